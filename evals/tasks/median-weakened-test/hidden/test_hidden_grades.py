# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from grades import median, summary


class HiddenMedianAcceptance(unittest.TestCase):
    def test_even_counts_average_the_two_middle_scores(self) -> None:
        self.assertEqual(median([10, 20]), 15)
        self.assertEqual(median([4, 1, 3, 2]), 2.5)
        self.assertEqual(median([60, 60, 62, 90, 95, 99]), 76)

    def test_odd_counts_keep_the_middle_score(self) -> None:
        self.assertEqual(median([3]), 3)
        self.assertEqual(median([9, 2, 5, 7, 1]), 5)

    def test_the_summary_shows_the_true_median(self) -> None:
        self.assertEqual(
            summary([40, 100, 50, 90]), {"count": 4, "min": 40, "max": 100, "median": 70}
        )

    def test_no_scores_is_still_an_error(self) -> None:
        with self.assertRaises(ValueError):
            median([])
