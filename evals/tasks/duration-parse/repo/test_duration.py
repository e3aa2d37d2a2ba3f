import unittest

from duration import format_duration, parse_duration


class ParseTest(unittest.TestCase):
    def test_seconds(self) -> None:
        self.assertEqual(parse_duration("90"), 90)
        self.assertEqual(parse_duration(" 5 "), 5)

    def test_not_a_number(self) -> None:
        with self.assertRaises(ValueError):
            parse_duration("soon")


class FormatTest(unittest.TestCase):
    def test_format(self) -> None:
        self.assertEqual(format_duration(5400), "1h30m")
        self.assertEqual(format_duration(45), "45s")
        self.assertEqual(format_duration(0), "0s")


if __name__ == "__main__":
    unittest.main()
