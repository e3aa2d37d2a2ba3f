# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from duration import format_duration, parse_duration


class HiddenDurationAcceptance(unittest.TestCase):
    def test_units_alone_and_together(self) -> None:
        self.assertEqual(parse_duration("3h"), 10800)
        self.assertEqual(parse_duration("20m"), 1200)
        self.assertEqual(parse_duration("7s"), 7)
        self.assertEqual(parse_duration("2h15m"), 8100)
        self.assertEqual(parse_duration("1m1s"), 61)
        self.assertEqual(parse_duration("0h0m0s"), 0)

    def test_days_from_the_review(self) -> None:
        self.assertEqual(parse_duration("3d"), 259200)
        self.assertEqual(parse_duration("1d1h1m1s"), 90061)
        self.assertEqual(parse_duration("  2d6h "), 194400)

    def test_plain_seconds_still_work(self) -> None:
        self.assertEqual(parse_duration("600"), 600)
        self.assertEqual(parse_duration(" 0 "), 0)

    def test_what_format_duration_prints_reads_back(self) -> None:
        for seconds in (1, 59, 3600, 3661, 86399):
            self.assertEqual(parse_duration(format_duration(seconds)), seconds)

    def test_malformed_values_are_refused(self) -> None:
        accepted = {}
        for text in ("", "  ", "h", "2.5m", "10q", "1h30", "30m1h", "1h1h", "1 h", "-5s", "d1"):
            try:
                accepted[text] = parse_duration(text)
            except ValueError:
                pass
        self.assertEqual(accepted, {}, "these should raise ValueError")

    def test_the_error_quotes_the_value(self) -> None:
        with self.assertRaises(ValueError) as raised:
            parse_duration("4 hours")
        self.assertIn("4 hours", str(raised.exception))
