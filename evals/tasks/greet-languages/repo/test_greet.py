import unittest

from greet import greet


class GreetTest(unittest.TestCase):
    def test_english(self) -> None:
        self.assertEqual(greet("Ana"), "Hello, Ana!")


if __name__ == "__main__":
    unittest.main()
