"""Test modules are imported by their file name (pytest's default import mode), so two test files
with the same name in different folders stop the whole suite from collecting."""

from collections import Counter
from pathlib import Path


def test_test_module_names_are_unique():
    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py") if not (p.parent / "__init__.py").exists())
    assert [n for n, c in names.items() if c > 1] == []
