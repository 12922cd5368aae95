"""The library stays UI-free: no module under lab/ imports streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

LAB = Path(__file__).resolve().parents[1] / "lab"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_lab_module_imports_streamlit():
    modules = sorted(LAB.rglob("*.py"))
    assert len(modules) >= 10
    offenders = [p.name for p in modules if "streamlit" in imported_modules(p)]
    assert offenders == []


def test_the_check_sees_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import streamlit as st\n")
    assert "streamlit" in imported_modules(sample)
