"""The shape of the code: the library is UI-free and its modules form a graph without cycles;
the app is layered, each page with its own views and the state below them.

Every import counts, at the top of a module or inside a function: an import placed in a
function to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UI_PACKAGES = ("streamlit", "app", "ui")


def module_name(path: Path, root: Path) -> str:
    name = path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
    return name.removesuffix(".__init__")


def imports_of(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, anywhere in it; ``from a import b`` counts as ``a`` and
    as ``a.b`` (which is a module when ``b`` is a submodule)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    return {
        name: {target for target in imports_of(path, name) if target in modules and target != name}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_lab_modules_form_a_graph_without_cycles():
    graph = import_graph(ROOT, "lab")
    assert len(graph) >= 20
    assert find_cycle(graph) is None


@pytest.mark.parametrize("path", sorted((ROOT / "lab").rglob("*.py")), ids=lambda p: p.name)
def test_no_lab_module_imports_the_ui(path):
    roots = {name.split(".")[0] for name in imports_of(path, module_name(path, ROOT))}
    assert not roots & set(UI_PACKAGES)


def page_of(module: str, layer: str) -> str | None:
    """The page that a module of ``app.<layer>`` (``views`` or ``pages``) belongs to: ``X`` for
    ``app.<layer>.X`` and the modules inside it; None for a module outside that layer."""
    parts = module.split(".")
    return parts[2] if len(parts) >= 3 and parts[:2] == ["app", layer] else None


def layering_breaches(graph: dict[str, set[str]]) -> list[str]:
    """Each import of the app's graph that crosses its layers, as ``importer -> imported``. No
    module imports a page (Streamlit runs them as scripts); a page imports only its own views,
    and a page's views import no other page's views; the state (``app.state``) and every
    other shared module import no views at all, so what two pages share is never one page's."""
    breaches = []
    for name in sorted(graph):
        for target in sorted(graph[name]):
            own = page_of(name, "views") or page_of(name, "pages")
            views = page_of(target, "views")
            crosses = page_of(target, "pages") is not None or (views is not None and views != own)
            if crosses:
                breaches.append(f"{name} -> {target}")
    return breaches


def test_app_modules_keep_to_their_layers():
    graph = import_graph(ROOT, "app")
    assert {"app.state.train", "app.views.train.form", "app.pages.train"} <= set(graph)
    assert layering_breaches(graph) == []


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_check_finds_a_cycle_hidden_inside_a_function(tmp_path):
    write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": "def thing():\n    from pkg import a\n",
            "pkg/c.py": "from . import a\n",
        },
    )
    assert find_cycle(import_graph(tmp_path, "pkg")) in (
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.b", "pkg.a", "pkg.b"],
    )


def test_the_check_passes_an_acyclic_package_and_sees_ui_imports(tmp_path):
    write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    import streamlit as st\n",
        },
    )
    assert find_cycle(import_graph(tmp_path, "pkg")) is None
    assert "streamlit" in imports_of(tmp_path / "pkg/b.py", "pkg.b")


def test_the_layering_check_finds_every_crossing(tmp_path):
    write_package(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/widgets.py": "from app.views import classify\n",
            "app/state/__init__.py": "",
            "app/state/train.py": "def f():\n    from app.views.train import form\n",
            "app/views/train/__init__.py": "",
            "app/views/train/form.py": "from app.views.train import SHOWN\nimport app.widgets\n",
            "app/views/classify.py": "from app.views.train import form\n",
            "app/views/inside.py": "from app.pages import classify\n",
            "app/pages/classify.py": "from app.views import classify, inside\nimport app.widgets\n",
            "app/pages/train.py": "from app.views.train import form\nfrom app.state import train\n",
        },
    )
    assert layering_breaches(import_graph(tmp_path, "app")) == [
        "app.pages.classify -> app.views.inside",
        "app.state.train -> app.views.train",
        "app.state.train -> app.views.train.form",
        "app.views.classify -> app.views.train",
        "app.views.classify -> app.views.train.form",
        "app.views.inside -> app.pages.classify",
        "app.widgets -> app.views.classify",
    ]


def test_no_two_test_files_share_a_name():
    """pytest imports test modules by their file name (the test folders are not packages), so a
    second file of the same name anywhere under tests/ stops the whole run at collection."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
