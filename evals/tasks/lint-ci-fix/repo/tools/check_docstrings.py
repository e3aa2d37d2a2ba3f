"""CI's docstring check: every public function and class in the project's modules says what
it does. Test modules and tools/ are exempt. Exits 1 and names each offender."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def missing(path: Path) -> list[str]:
    """`path:line: name` for each public top-level function or class without a docstring."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} has no docstring"
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
        and ast.get_docstring(node) is None
    ]


def main() -> int:
    modules = [p for p in sorted(ROOT.glob("*.py")) if not p.name.startswith("test")]
    problems = [line for path in modules for line in missing(path)]
    for line in problems:
        print(line)
    print(f"check_docstrings: {len(modules)} module(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
