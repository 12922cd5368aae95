"""What a generated script is made of: sections, the settings written as named constants, and
the lab's own source of the parts a script embeds as they are (the models, the epoch lines)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, fields
from string import Template
from types import ModuleType

from lab.config import SECTIONS, SETTINGS, RunConfig, declaration
from lab.errors import ConfigError

# Every field of a run config, as "section.name" ("train.lr", "data.source"): the settings a
# script must express, user-facing or not (the resize a model implies, the data's seed).
# Longest line of a generated script, as in the lab's own code.
LINE_LENGTH = 100
FIELD_PATHS = tuple(f"{key}.{item.name}" for key, cls in SECTIONS.items() for item in fields(cls))


@dataclass(frozen=True)
class Section:
    """One step of a generated script: its title, a Markdown paragraph on why it is done this
    way, its code, and the settings (``FIELD_PATHS``) whose values it writes."""

    title: str
    why: str
    code: str
    settings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.title.strip() or not self.code.strip():
            raise ConfigError(f"a script section needs a title and code, got {self.title!r}")
        unknown = sorted(set(self.settings) - set(FIELD_PATHS))
        if unknown:
            raise ConfigError(f"unknown settings {unknown} in section {self.title!r}")


def value_of(config: RunConfig, path: str):
    """The value of the field ``path`` ("train.lr") in ``config``."""
    section, name = path.split(".")
    return getattr(getattr(config, section), name)


def literal(value: object) -> str:
    """A value as Python source, strings in double quotes as the rest of a script writes them."""
    text = repr(value)
    if isinstance(value, str) and '"' not in value:
        text = f'"{text[1:-1]}"'
    return text


def constant(config: RunConfig, path: str, name: str | None = None, note: str = "") -> str:
    """The line that writes one setting as a named constant, ``LR = 0.75  # Learning rate``,
    with its unit and an optional note (on comment lines above when the line would be long)."""
    section, field = path.split(".")
    spec = declaration(section, field).spec
    label = spec.label
    if spec.unit and spec.unit.lower() not in label.lower():
        label += f", {spec.unit}"
    line = f"{name or field.upper()} = {literal(value_of(config, path))}  # {label}"
    if not note:
        return line
    if len(f"{line}: {note}") <= LINE_LENGTH:
        return f"{line}: {note}"
    above = textwrap.fill(note[0].upper() + note[1:] + ".", LINE_LENGTH, initial_indent="# ",
                          subsequent_indent="# ")  # fmt: skip
    return f"{above}\n{line}"


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    return set()


def lab_source(module: ModuleType, name: str) -> str:
    """The source of the top-level function, class or constant ``name`` of a lab module, with
    its decorators and the comment lines right above it, exactly as the lab runs it."""
    text = inspect.getsource(module)
    lines = text.splitlines()
    node = next(node for node in ast.parse(text).body if name in _defines(node))
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)]) - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return "\n".join(lines[start : node.end_lineno])


def code_block(template: str, **values: str) -> str:
    """A section's code from an indented template with ``$name`` slots."""
    return Template(textwrap.dedent(template).strip("\n")).substitute(values)


def applies(config: RunConfig, key: str) -> bool:
    """Whether the user setting ``key`` means something for ``config``'s model."""
    return SETTINGS[key].applies_to(config.model.name)
