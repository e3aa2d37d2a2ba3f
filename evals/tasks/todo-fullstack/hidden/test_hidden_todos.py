# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import json
import unittest

from todos import todos_payload


class HiddenTodosAcceptance(unittest.TestCase):
    def test_done_flags_and_left(self) -> None:
        stored = [
            {"title": "Milk", "done": True},
            {"title": "Eggs"},
            {"title": "Tea", "done": False},
        ]
        payload = json.loads(todos_payload(stored))
        self.assertEqual(
            payload["todos"],
            [
                {"title": "Milk", "done": True},
                {"title": "Eggs", "done": False},
                {"title": "Tea", "done": False},
            ],
        )
        self.assertEqual(payload["left"], 2)

    def test_empty_list(self) -> None:
        self.assertEqual(json.loads(todos_payload([])), {"todos": [], "left": 0})
