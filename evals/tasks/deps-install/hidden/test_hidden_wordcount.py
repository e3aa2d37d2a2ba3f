# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from wordcount import count, top_words


class HiddenTopWordsAcceptance(unittest.TestCase):
    def test_words_as_count_sees_them(self) -> None:
        text = "The cat. The dog, THE end!"
        self.assertEqual(top_words(text, 2), [("the", 3), ("cat", 1)])

    def test_ties_in_alphabetical_order(self) -> None:
        self.assertEqual(
            top_words("pear apple fig apple pear", 3), [("apple", 2), ("pear", 2), ("fig", 1)]
        )

    def test_fewer_words_than_asked(self) -> None:
        self.assertEqual(top_words("one", 5), [("one", 1)])

    def test_count_unchanged(self) -> None:
        self.assertEqual(count("Don't stop!"), 2)
