# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
import unittest

from greet import greet


class HiddenGreetAcceptance(unittest.TestCase):
    def test_english_is_the_default(self) -> None:
        self.assertEqual(greet("Ana"), "Hello, Ana!")
        self.assertEqual(greet("Ana", "en"), "Hello, Ana!")

    def test_french_and_spanish(self) -> None:
        self.assertEqual(greet("Ana", "fr"), "Bonjour, Ana!")
        self.assertEqual(greet("Luis", language="es"), "¡Hola, Luis!")

    def test_an_unknown_language_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            greet("Ana", "xx")
