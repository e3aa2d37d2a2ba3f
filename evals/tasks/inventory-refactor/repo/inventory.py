"""Stock reports for the warehouse's morning e-mail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    category: str
    qty: int
    expires: date | None = None


def low_stock_report(items: list[Item], threshold: int = 5) -> str:
    """Items with fewer than `threshold` units, the scarcest first."""
    chosen = [item for item in items if item.qty < threshold]
    chosen.sort(key=lambda item: (item.qty, item.sku))
    lines = [f"LOW STOCK (below {threshold})"]
    if not chosen:
        lines.append("  nothing to report")
        return "\n".join(lines) + "\n"
    for item in chosen:
        lines.append(f"  {item.sku:<8} {item.name:<20} {item.qty:>5}")
    units = sum(item.qty for item in chosen)
    lines.append(f"  {len(chosen)} item{'' if len(chosen) == 1 else 's'}, {units} units")
    return "\n".join(lines) + "\n"


def expired_report(items: list[Item], today: date) -> str:
    """Items whose date has passed (an item expiring today is still good), oldest first."""
    chosen = [item for item in items if item.expires is not None and item.expires < today]
    chosen.sort(key=lambda item: (item.expires, item.sku))
    lines = [f"EXPIRED (as of {today.isoformat()})"]
    if not chosen:
        lines.append("  nothing to report")
        return "\n".join(lines) + "\n"
    for item in chosen:
        lines.append(f"  {item.sku:<8} {item.name:<20} {item.qty:>5}")
    units = sum(item.qty for item in chosen)
    lines.append(f"  {len(chosen)} item{'' if len(chosen) == 1 else 's'}, {units} units")
    return "\n".join(lines) + "\n"


def category_report(items: list[Item], category: str) -> str:
    """Every item of `category`, by name (case does not matter)."""
    chosen = [item for item in items if item.category == category]
    chosen.sort(key=lambda item: item.name.lower())
    lines = [f"CATEGORY {category.upper()}"]
    if not chosen:
        lines.append(f"  no items in {category}")
        return "\n".join(lines) + "\n"
    for item in chosen:
        lines.append(f"  {item.sku:<8} {item.name:<20} {item.qty:>5}")
    units = sum(item.qty for item in chosen)
    lines.append(f"  {len(chosen)} item{'' if len(chosen) == 1 else 's'}, {units} units")
    return "\n".join(lines) + "\n"
