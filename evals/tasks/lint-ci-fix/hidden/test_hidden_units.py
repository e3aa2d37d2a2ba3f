# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from units import celsius_to_fahrenheit, km_to_miles, miles_to_km


class HiddenDistanceAcceptance(unittest.TestCase):
    def test_one_international_mile(self) -> None:
        self.assertAlmostEqual(miles_to_km(1), 1.609344, places=12)
        self.assertAlmostEqual(km_to_miles(1.609344), 1, places=12)

    def test_a_marathon(self) -> None:
        self.assertAlmostEqual(miles_to_km(26.21875), 42.194988, places=6)
        self.assertAlmostEqual(km_to_miles(42.195), 26.218757, places=6)

    def test_there_and_back(self) -> None:
        for km in (0, 0.5, 12.25, 1000):
            self.assertAlmostEqual(miles_to_km(km_to_miles(km)), km, places=9)

    def test_temperatures_unchanged(self) -> None:
        self.assertAlmostEqual(celsius_to_fahrenheit(37), 98.6)
