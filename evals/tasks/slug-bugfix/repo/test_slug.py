import unittest

from slug import slugify


class SlugTest(unittest.TestCase):
    def test_lower_case_words(self) -> None:
        self.assertEqual(slugify("Hello World"), "hello-world")

    def test_digits_stay(self) -> None:
        self.assertEqual(slugify("Top 10"), "top-10")


if __name__ == "__main__":
    unittest.main()
