import unittest

from units import celsius_to_fahrenheit, fahrenheit_to_celsius


class TemperatureTest(unittest.TestCase):
    def test_boiling_point(self) -> None:
        self.assertAlmostEqual(celsius_to_fahrenheit(100), 212)
        self.assertAlmostEqual(fahrenheit_to_celsius(212), 100)

    def test_minus_forty_is_the_same_in_both(self) -> None:
        self.assertAlmostEqual(celsius_to_fahrenheit(-40), -40)


if __name__ == "__main__":
    unittest.main()
