"""Unit conversions for the route planner's display."""

FAHRENHEIT_OFFSET = 32.0
FAHRENHEIT_PER_CELSIUS = 9 / 5


def celsius_to_fahrenheit(celsius: float) -> float:
    """Degrees Celsius in degrees Fahrenheit: 100 -> 212."""
    return celsius * FAHRENHEIT_PER_CELSIUS + FAHRENHEIT_OFFSET


def fahrenheit_to_celsius(fahrenheit: float) -> float:
    """Degrees Fahrenheit in degrees Celsius: 212 -> 100."""
    return (fahrenheit - FAHRENHEIT_OFFSET) / FAHRENHEIT_PER_CELSIUS
