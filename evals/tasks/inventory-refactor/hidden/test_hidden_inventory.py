# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import inspect
import unittest
from datetime import date
from unittest import mock

import inventory
from inventory import Item, category_report, expired_report, low_stock_report

DAY = date(2026, 4, 10)
SHELF = [
    Item("K-9", "kiwis", "fruit", 4, date(2026, 4, 9)),
    Item("D-4", "Dates", "fruit", 4, date(2026, 4, 1)),
    Item("M-1", "Milk", "dairy", 0, date(2026, 4, 10)),
    Item("Y-7", "Yoghurt, Greek style, 500 g", "dairy", 6, date(2026, 4, 1)),
    Item("S-2", "Salt", "pantry", 5, None),
    Item("E-5", "eggs", "Dairy", 2, date(2026, 4, 11)),
]


class HiddenBehaviourKept(unittest.TestCase):
    def test_low_stock_default_threshold_and_ties_by_sku(self) -> None:
        self.assertEqual(
            low_stock_report(SHELF),
            "LOW STOCK (below 5)\n"
            "  M-1      Milk                     0\n"
            "  E-5      eggs                     2\n"
            "  D-4      Dates                    4\n"
            "  K-9      kiwis                    4\n"
            "  4 items, 10 units\n",
        )

    def test_low_stock_threshold_is_exclusive(self) -> None:
        self.assertEqual(
            low_stock_report(SHELF, threshold=1),
            "LOW STOCK (below 1)\n  M-1      Milk                     0\n  1 item, 0 units\n",
        )
        self.assertEqual(low_stock_report(SHELF, 0), "LOW STOCK (below 0)\n  nothing to report\n")
        self.assertEqual(low_stock_report([]), "LOW STOCK (below 5)\n  nothing to report\n")

    def test_expired_oldest_first_then_sku_and_today_is_still_good(self) -> None:
        self.assertEqual(
            expired_report(SHELF, DAY),
            "EXPIRED (as of 2026-04-10)\n"
            "  D-4      Dates                    4\n"
            "  Y-7      Yoghurt, Greek style, 500 g     6\n"
            "  K-9      kiwis                    4\n"
            "  3 items, 14 units\n",
        )

    def test_expired_empty(self) -> None:
        self.assertEqual(
            expired_report(SHELF, today=date(2026, 4, 1)),
            "EXPIRED (as of 2026-04-01)\n  nothing to report\n",
        )

    def test_category_by_name_ignoring_case_and_exact_category(self) -> None:
        self.assertEqual(
            category_report(SHELF, "fruit"),
            "CATEGORY FRUIT\n"
            "  D-4      Dates                    4\n"
            "  K-9      kiwis                    4\n"
            "  2 items, 8 units\n",
        )
        self.assertEqual(
            category_report(SHELF, category="Dairy"),
            "CATEGORY DAIRY\n  E-5      eggs                     2\n  1 item, 2 units\n",
        )

    def test_category_empty_names_the_category(self) -> None:
        self.assertEqual(category_report(SHELF, "frozen"), "CATEGORY FROZEN\n  no items in frozen\n")
        self.assertEqual(category_report([], "Tea"), "CATEGORY TEA\n  no items in Tea\n")

    def test_the_caller_s_list_is_left_alone(self) -> None:
        shelf = list(SHELF)
        low_stock_report(shelf)
        expired_report(shelf, DAY)
        category_report(shelf, "dairy")
        self.assertEqual(shelf, SHELF)


class HiddenNewShape(unittest.TestCase):
    def test_render_report_sorts_and_writes_the_shared_layout(self) -> None:
        items = [Item("B", "Beta", "x", 10), Item("A", "Alpha", "x", 1)]
        self.assertEqual(
            inventory.render_report("ANY TITLE", items, lambda item: item.sku),
            "ANY TITLE\n"
            "  A        Alpha                    1\n"
            "  B        Beta                    10\n"
            "  2 items, 11 units\n",
        )
        self.assertEqual(
            inventory.render_report("T", items, sort_key=lambda item: -item.qty).splitlines()[1],
            "  B        Beta                    10",
        )

    def test_render_report_s_parameters(self) -> None:
        names = list(inspect.signature(inventory.render_report).parameters)
        self.assertEqual(names[:3], ["title", "items", "sort_key"])

    def test_each_report_goes_through_render_report(self) -> None:
        for report, args in (
            (low_stock_report, (SHELF,)),
            (expired_report, (SHELF, DAY)),
            (category_report, (SHELF, "fruit")),
        ):
            with self.subTest(report.__name__):
                with mock.patch.object(
                    inventory, "render_report", wraps=inventory.render_report
                ) as spy:
                    before = report(*args)
                self.assertEqual(spy.call_count, 1)
                self.assertEqual(report(*args), before)

    def test_the_old_signatures_stay(self) -> None:
        low = inspect.signature(low_stock_report).parameters
        self.assertEqual((list(low), low["threshold"].default), (["items", "threshold"], 5))
        self.assertEqual(list(inspect.signature(expired_report).parameters), ["items", "today"])
        self.assertEqual(list(inspect.signature(category_report).parameters), ["items", "category"])
