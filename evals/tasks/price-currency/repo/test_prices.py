import unittest

from prices import format_price


class PriceTest(unittest.TestCase):
    def test_dollars(self) -> None:
        self.assertEqual(format_price(1234), "$12.34")

    def test_cents_are_padded(self) -> None:
        self.assertEqual(format_price(105), "$1.05")


if __name__ == "__main__":
    unittest.main()
