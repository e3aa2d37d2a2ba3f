# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from slug import slugify


class HiddenSlugAcceptance(unittest.TestCase):
    def test_runs_of_separators_become_one_dash(self) -> None:
        self.assertEqual(slugify("Hello,  World!"), "hello-world")

    def test_no_dash_at_either_end(self) -> None:
        self.assertEqual(slugify("  --Rock & Roll--  "), "rock-roll")

    def test_plain_words_unchanged(self) -> None:
        self.assertEqual(slugify("Top 10"), "top-10")
