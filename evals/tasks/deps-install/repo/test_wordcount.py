import unittest

from wordcount import count


class CountTest(unittest.TestCase):
    def test_punctuation_is_not_a_word(self) -> None:
        self.assertEqual(count("Hello, world!"), 2)


if __name__ == "__main__":
    unittest.main()
