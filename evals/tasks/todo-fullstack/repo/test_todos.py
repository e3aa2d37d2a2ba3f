import json
import unittest

from todos import todos_payload


class TodosPayloadTest(unittest.TestCase):
    def test_titles_in_order(self) -> None:
        payload = json.loads(todos_payload([{"title": "Milk"}, {"title": "Eggs"}]))
        self.assertEqual([t["title"] for t in payload["todos"]], ["Milk", "Eggs"])


if __name__ == "__main__":
    unittest.main()
