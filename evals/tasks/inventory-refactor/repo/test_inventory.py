import unittest
from datetime import date

from inventory import Item, category_report, expired_report, low_stock_report

STOCK = [
    Item("A-1", "Apples", "fruit", 3, date(2026, 3, 1)),
    Item("B-2", "Bananas", "fruit", 12, date(2026, 2, 20)),
    Item("C-3", "Cheddar", "dairy", 1, date(2026, 5, 1)),
]


class ReportTest(unittest.TestCase):
    def test_low_stock(self) -> None:
        self.assertEqual(
            low_stock_report(STOCK),
            "LOW STOCK (below 5)\n"
            "  C-3      Cheddar                  1\n"
            "  A-1      Apples                   3\n"
            "  2 items, 4 units\n",
        )

    def test_expired(self) -> None:
        self.assertEqual(
            expired_report(STOCK, date(2026, 3, 2)),
            "EXPIRED (as of 2026-03-02)\n"
            "  B-2      Bananas                 12\n"
            "  A-1      Apples                   3\n"
            "  2 items, 15 units\n",
        )

    def test_category(self) -> None:
        self.assertEqual(
            category_report(STOCK, "dairy"),
            "CATEGORY DAIRY\n  C-3      Cheddar                  1\n  1 item, 1 units\n",
        )


if __name__ == "__main__":
    unittest.main()
