import unittest

from grades import median, summary


class MedianTest(unittest.TestCase):
    def test_median_odd_count(self) -> None:
        self.assertEqual(median([90, 70, 80]), 80)

    def test_median_even_count(self) -> None:
        self.assertEqual(median([70, 80, 90, 100]), 85)

    def test_median_of_nothing(self) -> None:
        with self.assertRaises(ValueError):
            median([])


class SummaryTest(unittest.TestCase):
    def test_summary(self) -> None:
        self.assertEqual(
            summary([55, 95, 75]), {"count": 3, "min": 55, "max": 95, "median": 75}
        )


if __name__ == "__main__":
    unittest.main()
