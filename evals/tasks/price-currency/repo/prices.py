"""Prices shown in the shop."""


def format_price(cents: int) -> str:
    """`cents` as dollars, e.g. 1234 -> "$12.34"."""
    return f"${cents // 100}.{cents % 100:02d}"
