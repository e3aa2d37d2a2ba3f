"""Greetings for the welcome page."""


def greet(name: str) -> str:
    return f"Hello, {name}!"
