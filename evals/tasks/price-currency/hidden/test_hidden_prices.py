# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from prices import format_price


class HiddenPriceAcceptance(unittest.TestCase):
    def test_default_is_still_dollars(self) -> None:
        self.assertEqual(format_price(1234), "$12.34")

    def test_euros_use_a_comma_and_a_trailing_sign(self) -> None:
        self.assertEqual(format_price(1234, "EUR"), "12,34 €")
        self.assertEqual(format_price(5, currency="EUR"), "0,05 €")

    def test_pounds(self) -> None:
        self.assertEqual(format_price(1234, "GBP"), "£12.34")

    def test_lower_case_codes(self) -> None:
        self.assertEqual(format_price(1234, "eur"), "12,34 €")

    def test_unknown_currency(self) -> None:
        with self.assertRaises(ValueError):
            format_price(1, "XYZ")
