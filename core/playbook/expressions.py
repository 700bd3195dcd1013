"""``${{ ... }}`` expressions: a small, safe language over plain JSON-like data.

A playbook comes from a file anyone can edit, so its expressions must not reach Python: they are
parsed with ``ast``, checked against a whitelist of node types, and then *interpreted* node by
node (never ``eval``-ed). Attribute access reads dict keys only, so no Python attribute of any
object is ever looked up; calls go to the functions in ``FUNCTIONS`` only.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CONTEXTS = ("vars", "steps", "env")
LITERALS = {"true": True, "false": False, "null": None}
MAX_SIZE = 100_000  # longest string or list an expression may build (repetition, **)
OPEN, CLOSE = "${{", "}}"


class ExpressionError(ValueError):
    """An expression that does not parse, uses something not allowed, or fails to evaluate."""


# --- functions -----------------------------------------------------------------------------------


def to_text(value: Any) -> str:
    """How a value reads inside a longer string: JSON-like (true, null as empty, lists as JSON)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value)) if abs(value) < 1e15 else str(value)
    if isinstance(value, dict | list | tuple | set):
        return json.dumps(sorted(value) if isinstance(value, set) else value, default=str)
    return str(value)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, str):
        return str(item).lower() in search.lower()
    if isinstance(search, list | tuple | set | dict):
        return item in search
    raise ExpressionError(f"contains() searches a string, list or dict, not {_kind(search)}")


def _starts_with(s: Any, prefix: Any) -> bool:
    return str(s).lower().startswith(str(prefix).lower())


def _ends_with(s: Any, suffix: Any) -> bool:
    return str(s).lower().endswith(str(suffix).lower())


def _format(template: Any, *args: Any) -> str:
    """GitHub's format('{0} of {1}', a, b); ``{{``/``}}`` are literal braces. Never str.format,
    which would let '{0.__class__}' read attributes."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        i = int(m.group(1))
        if i >= len(args):
            raise ExpressionError(f"format(): no argument {{{i}}} (got {len(args)})")
        return to_text(args[i])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", sub, str(template))


def _join(items: Any, separator: Any = ",") -> str:
    if isinstance(items, list | tuple):
        return str(separator).join(to_text(x) for x in items)
    return to_text(items)


def _from_json(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except json.JSONDecodeError as e:
        raise ExpressionError(f"fromJSON(): {e}") from None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "all": all,
    "any": any,
    "abs": abs,
    "round": round,
    "sorted": sorted,
    "str": to_text,  # booleans as true/false, null as empty, lists as JSON
    "int": int,
    "float": float,
    "bool": bool,
    "contains": _contains,
    "startsWith": _starts_with,
    "endsWith": _ends_with,
    "format": _format,
    "join": _join,
    "toJSON": lambda value: json.dumps(value, default=str),
    "fromJSON": _from_json,
}


# --- finding and translating expressions ---------------------------------------------------------


def _scan_close(text: str, start: int) -> int:
    """Index of the ``}}`` closing an expression that starts at ``start`` (quotes respected), or -1."""
    quote = ""
    i = start
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif text.startswith(CLOSE, i):
            return i
        i += 1
    return -1


def split_template(text: str) -> list[str | Expr]:
    """A string as literal parts and compiled expressions, in order."""
    parts: list[str | Expr] = []
    pos = 0
    while (start := text.find(OPEN, pos)) != -1:
        end = _scan_close(text, start + len(OPEN))
        if end == -1:
            raise ExpressionError(f"unclosed '{OPEN}' (close it with '{CLOSE}')")
        if start > pos:
            parts.append(text[pos:start])
        parts.append(compile_expr(text[start + len(OPEN) : end]))
        pos = end + len(CLOSE)
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def has_expression(value: Any) -> bool:
    """Whether a (nested) value holds a ``${{`` anywhere in its strings."""
    if isinstance(value, str):
        return OPEN in value
    if isinstance(value, dict):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return False


def condition(text: str | bool) -> Expr | bool:
    """An ``if:``/``that:``: one ``${{ }}``, or (like GitHub) a bare expression without the braces."""
    if isinstance(text, bool):
        return text
    parts = split_template(text.strip())
    if not parts:
        raise ExpressionError("empty condition")
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return parts[0]
    if any(isinstance(p, Expr) for p in parts):
        raise ExpressionError("a condition is one expression: write it as a single ${{ ... }}")
    return compile_expr(text)


def _translate(source: str) -> str:
    """GitHub's ``&&``, ``||`` and ``!`` as Python's and/or/not (outside string literals)."""
    out, quote, i = [], "", 0
    while i < len(source):
        c = source[i]
        if quote:
            out.append(c)
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
            out.append(c)
        elif source.startswith("&&", i):
            out.append(" and ")
            i += 1
        elif source.startswith("||", i):
            out.append(" or ")
            i += 1
        elif c == "!" and not source.startswith("!=", i):
            out.append(" not ")
        else:
            out.append(c)
        i += 1
    return "".join(out)


# --- checking ------------------------------------------------------------------------------------

ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.BinOp,
    ast.IfExp,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.Call,
    ast.keyword,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)


@dataclass(frozen=True)
class Expr:
    """One checked expression: its source as written and its parsed tree."""

    source: str
    tree: ast.Expression

    def evaluate(self, context: dict[str, Any]) -> Any:
        try:
            return _Eval(context).run(self.tree.body)
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError("expression nests too deeply") from None
        except Exception as e:  # a TypeError comparing None < 1, a KeyError, ...
            raise ExpressionError(f"{type(e).__name__}: {e}".rstrip(": ")) from None

    def paths(self) -> Iterator[tuple[str | int, ...]]:
        """Every read rooted at a context, as its constant keys: ``steps.a.outputs.rows[0]`` ->
        ('steps', 'a', 'outputs', 'rows', 0); a chain stops at the first computed key."""
        yield from _paths(self.tree)

    @property
    def text(self) -> str:
        return self.source.strip()


def _bound_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _paths(tree: ast.AST) -> Iterator[tuple[str | int, ...]]:
    local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    chained: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in chained or not isinstance(node, ast.Attribute | ast.Subscript | ast.Name):
            continue
        keys: list[str | int] = []
        cur: ast.AST = node
        while True:
            chained.add(id(cur))
            if isinstance(cur, ast.Attribute):
                keys.append(cur.attr)
                cur = cur.value
            elif isinstance(cur, ast.Subscript):
                key = cur.slice
                keys = [] if not (isinstance(key, ast.Constant) and isinstance(key.value, str | int)) else [*keys, key.value]
                cur = cur.value
            else:
                break
        if isinstance(cur, ast.Name) and cur.id in CONTEXTS and cur.id not in local:
            yield (cur.id, *reversed(keys))


def _check(tree: ast.Expression) -> None:
    local = _bound_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"name {node.id!r} is not allowed (names starting with _ are refused)")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"attribute {node.attr!r} is not allowed (names starting with _ are refused)")
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_NODES):
            raise ExpressionError(f"{type(node).__name__.lower()} is not allowed in an expression")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise ExpressionError(f"calling {what}() is not allowed (functions: {', '.join(FUNCTIONS)})")
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                raise ExpressionError("* and ** arguments are not allowed")
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            known = node.id in CONTEXTS or node.id in LITERALS or node.id in local or node.id in FUNCTIONS
            if not known:
                raise ExpressionError(f"unknown name {node.id!r} (read vars.NAME, steps.ID.outputs.FIELD or env.NAME)")
        if isinstance(node, ast.comprehension) and node.is_async:
            raise ExpressionError("async comprehensions are not allowed")
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FUNCTIONS and node.id not in local and id(node) not in called:
            raise ExpressionError(f"{node.id} is a function: call it, e.g. {node.id}(...)")


@lru_cache(maxsize=1024)
def compile_expr(source: str) -> Expr:
    """Parse and check one expression (the text between ``${{`` and ``}}``)."""
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(_translate(text).strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"invalid expression {text!r}: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"invalid expression {text!r}") from None
    try:
        _check(tree)
    except ExpressionError as e:
        raise ExpressionError(f"invalid expression {text!r}: {e}") from None
    return Expr(text, tree)


# --- evaluating ----------------------------------------------------------------------------------

_BINARY: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(type(value), type(value).__name__)


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_SIZE:
        raise ExpressionError(f"result too large (over {MAX_SIZE} items)")
    return value


class _Eval:
    """Walks a checked tree over plain data; a dict's keys read as attributes (``a.b`` is ``a['b']``)."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.scopes: list[dict[str, Any]] = [dict(context)]

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name in LITERALS:
            return LITERALS[name]
        raise ExpressionError(f"unknown name {name!r}")

    def run(self, node: ast.AST) -> Any:
        method = getattr(self, "do_" + type(node).__name__, None)
        if method is None:  # unreachable after _check; kept as a second fence
            raise ExpressionError(f"{type(node).__name__} is not allowed")
        return method(node)

    def do_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def do_Name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def do_Attribute(self, node: ast.Attribute) -> Any:
        return read(self.run(node.value), node.attr, ast.unparse(node.value))

    def do_Subscript(self, node: ast.Subscript) -> Any:
        base = self.run(node.value)
        if isinstance(node.slice, ast.Slice):
            s = node.slice
            parts = [None if x is None else self.run(x) for x in (s.lower, s.upper, s.step)]
            if not isinstance(base, str | list | tuple):
                raise ExpressionError(f"cannot slice {_kind(base)}")
            return base[slice(*parts)]
        return read(base, self.run(node.slice), ast.unparse(node.value))

    def do_Compare(self, node: ast.Compare) -> Any:
        left = self.run(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.run(right_node)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def do_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for v in node.values:
            value = self.run(v)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def do_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.run(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if isinstance(node.op, ast.USub) else +value

    def do_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.run(node.left), self.run(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > 64:
            raise ExpressionError("exponent too large (at most 64)")
        if isinstance(node.op, ast.Mult):
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_SIZE:
                    raise ExpressionError(f"result too large (over {MAX_SIZE} items)")
        return _sized(_BINARY[type(node.op)](left, right))

    def do_IfExp(self, node: ast.IfExp) -> Any:
        return self.run(node.body) if self.run(node.test) else self.run(node.orelse)

    def do_List(self, node: ast.List) -> Any:
        return [self.run(e) for e in node.elts]

    def do_Tuple(self, node: ast.Tuple) -> Any:
        return [self.run(e) for e in node.elts]  # JSON has no tuples

    def do_Set(self, node: ast.Set) -> Any:
        return {self.run(e) for e in node.elts}

    def do_Dict(self, node: ast.Dict) -> Any:
        if any(k is None for k in node.keys):
            raise ExpressionError("** in a dict is not allowed")
        return {self.run(k): self.run(v) for k, v in zip(node.keys, node.values) if k is not None}

    def do_Call(self, node: ast.Call) -> Any:
        fn = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]  # checked: a Name in FUNCTIONS
        args = [self.run(a) for a in node.args]
        kwargs = {k.arg: self.run(k.value) for k in node.keywords if k.arg}
        return _sized(fn(*args, **kwargs))

    # comprehensions: each ``for`` binds its target in a new scope, innermost last
    def _generate(self, generators: list[ast.comprehension], emit: Callable[[], None]) -> None:
        first, rest = generators[0], generators[1:]
        iterable = self.run(first.iter)
        if isinstance(iterable, dict):
            iterable = list(iterable)
        if not isinstance(iterable, list | tuple | str | set):
            raise ExpressionError(f"cannot loop over {_kind(iterable)}")
        for item in iterable:
            self.scopes.append({})
            try:
                self._bind(first.target, item)
                if all(self.run(cond) for cond in first.ifs):
                    if rest:
                        self._generate(rest, emit)
                    else:
                        emit()
            finally:
                self.scopes.pop()

    def _bind(self, target: ast.AST, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1][target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            values = list(value)
            if len(values) != len(target.elts):
                raise ExpressionError(f"cannot unpack {len(values)} values into {len(target.elts)} names")
            for t, v in zip(target.elts, values):
                self._bind(t, v)
        else:
            raise ExpressionError("a loop variable must be a name")

    def _collect(self, generators: list[ast.comprehension], make: Callable[[], Any]) -> list[Any]:
        out: list[Any] = []
        self._generate(generators, lambda: out.append(make()))
        if len(out) > MAX_SIZE:
            raise ExpressionError(f"result too large (over {MAX_SIZE} items)")
        return out

    def do_ListComp(self, node: ast.ListComp) -> Any:
        return self._collect(node.generators, lambda: self.run(node.elt))

    def do_GeneratorExp(self, node: ast.GeneratorExp) -> Any:
        return self._collect(node.generators, lambda: self.run(node.elt))

    def do_SetComp(self, node: ast.SetComp) -> Any:
        return set(self._collect(node.generators, lambda: self.run(node.elt)))

    def do_DictComp(self, node: ast.DictComp) -> Any:
        return dict(self._collect(node.generators, lambda: (self.run(node.key), self.run(node.value))))


class Env(dict):  # type: ignore[type-arg]
    """The process environment: a variable that is not set reads as null (so ``if: env.X`` works)."""


def read(base: Any, key: Any, where: str = "value") -> Any:
    """``base.key`` / ``base[key]`` on plain data: dict keys and list indices, nothing else."""
    if isinstance(base, Env):
        return base.get(key)
    if isinstance(base, dict):
        if key not in base:
            known = ", ".join(map(str, list(base)[:20])) or "none"
            raise ExpressionError(f"{where} has no {key!r} (has: {known})")
        return base[key]
    if isinstance(base, list | tuple | str) and isinstance(key, int) and not isinstance(key, bool):
        if not -len(base) <= key < len(base):
            raise ExpressionError(f"{where}[{key}] is out of range (length {len(base)})")
        return base[key]
    raise ExpressionError(f"cannot read {key!r} of {_kind(base)} ({where})")


# --- rendering -----------------------------------------------------------------------------------


def render(value: Any, context: dict[str, Any], unresolved: Callable[[Expr], bool] | None = None) -> Any:
    """A ``with:`` value with its expressions evaluated. A string that is one whole expression keeps
    the result's type; expressions inside a longer string are formatted into it. With
    ``unresolved``, expressions it picks are shown as ``<source>`` instead (a dry-run plan)."""
    if isinstance(value, dict):
        return {k: render(v, context, unresolved) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, unresolved) for v in value]
    if not isinstance(value, str) or OPEN not in value:
        return value
    parts = split_template(value)

    def one(e: Expr) -> Any:
        return f"<{e.text}>" if unresolved and unresolved(e) else e.evaluate(context)

    if len(parts) == 1 and isinstance(parts[0], Expr):
        return one(parts[0])
    return "".join(p if isinstance(p, str) else to_text(one(p)) for p in parts)


def expressions_in(value: Any) -> Iterator[Expr]:
    """Every expression in a nested value (raises ExpressionError for the first bad one)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from expressions_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from expressions_in(v)
    elif isinstance(value, str) and OPEN in value:
        yield from (p for p in split_template(value) if isinstance(p, Expr))
