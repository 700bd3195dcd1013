"""YAML that remembers where each value was written, so every error can say ``FILE:LINE:COL``.

PyYAML's composer gives nodes with start marks; the document is constructed from those same
nodes, and a walk over both maps each JSON path (``('steps', 0, 'with', 'video')``) to the
line and column (1-based) of its value and of its key. Duplicate keys, which PyYAML silently
collapses to the last, are reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One error in a playbook file, printed as ``FILE:LINE:COL: message``."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # not in the file (a --var)
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class Document:
    """A parsed playbook file: its data and where each part of it was written."""

    file: str
    data: Any
    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: JsonPath, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or of its key), else of the nearest enclosing part."""
        p = tuple(path)
        while True:
            table = self.keys if key and p in self.keys else self.values
            if p in table:
                return table[p]
            if not p:
                return (1, 1)
            p, key = p[:-1], False

    def problem(self, path: JsonPath, message: str, key: bool = False) -> Problem:
        line, column = self.at(path, key)
        return Problem(self.file, line, column, message)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def load(path: Path | str, text: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Parse a playbook file; a YAML syntax error comes back as a positioned problem."""
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return None, [Problem(name, 1, 1, f"cannot read the playbook: {e}")]
    loader = yaml.SafeLoader(text)
    doc = Document(name, None)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is not None:  # walk before constructing: that flattens merge keys (<<) in place
            doc.values[()] = _mark(node)
            _walk(loader, node, (), doc, problems, set())
            doc.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        return None, [Problem(name, line, column, f"YAML syntax: {what}")]
    except yaml.YAMLError as e:
        return None, [Problem(name, 1, 1, f"YAML syntax: {e}")]
    finally:
        loader.dispose()
    return doc, problems


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, path: JsonPath, doc: Document, problems: list[Problem], above: set[int]
) -> None:
    if id(node) in above:  # an alias of an enclosing node: a cycle
        return
    above = above | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
                hash(key)
            except (yaml.YAMLError, TypeError):
                continue
            if key in seen and key != "<<":
                problems.append(Problem(doc.file, *_mark(key_node), f"duplicate key {key!r}"))
            seen.add(key)
            child = (*path, key)
            doc.keys[child] = _mark(key_node)
            doc.values[child] = _mark(value_node)
            _walk(loader, value_node, child, doc, problems, above)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, i)
            doc.keys[child] = doc.values[child] = _mark(item)
            _walk(loader, item, child, doc, problems, above)
