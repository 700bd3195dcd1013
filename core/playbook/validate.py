"""Everything wrong with a playbook, found before anything runs, each error at its line and column.

Three passes: the YAML itself, the published JSON Schema (the same file editors use), then what a
schema cannot know: operation names and their inputs, literal input values against the
operation's input model, expressions that parse and pass the sandbox, references to vars that
exist and to steps that run earlier, and the ``--var`` overrides.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import BaseModel, ValidationError

from screenalytics.playbook.expressions import Expr, ExpressionError, condition, expressions_in, has_expression
from screenalytics.playbook.loader import Document, JsonPath, Problem, load
from screenalytics.playbook.model import Playbook, Step, published_schema
from screenalytics.service.operations import OPERATIONS

STEP_FIELDS = ("outputs", "outcome")


@dataclass
class Checked:
    """A valid playbook, its vars with the overrides applied, and where it came from."""

    playbook: Playbook
    vars: dict[str, Any]
    document: Document
    problems: list[Problem] = field(default_factory=list)


class PlaybookInvalid(Exception):
    """The playbook (or a --var) has errors; nothing was run. ``problems`` holds each one."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def parse_var(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` with VALUE read as a YAML scalar (``3`` a number, ``true`` a bool, empty: null)."""
    name, eq, raw = text.partition("=")
    if not eq or not name.strip():
        raise ValueError(f"bad --var {text!r}: write NAME=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict | list) or not isinstance(value, str | int | float | bool | type(None)):
        value = raw  # only scalars are parsed; anything else stays the text given
    return name.strip(), value


def check(path: Path | str, overrides: list[str] | dict[str, Any] | None = None, text: str | None = None) -> Checked:
    """Load and validate a playbook; raises PlaybookInvalid listing every problem found."""
    doc, problems = load(path, text)  # a syntax error ends it; duplicate keys are reported with the rest
    if doc is None:
        raise PlaybookInvalid(problems)
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else type(doc.data).__name__
        raise PlaybookInvalid([doc.problem((), f"a playbook is a mapping with name: and steps:, not {got}")])
    shape = schema_problems(doc)
    if shape:  # the semantic checks need the shape right
        raise PlaybookInvalid(_ordered(problems + shape))
    try:
        playbook = Playbook.model_validate(doc.data)
    except ValidationError as e:  # the schema should have said it; never let a bad file through
        raise PlaybookInvalid([doc.problem(tuple(err["loc"]), err["msg"]) for err in e.errors()]) from None
    problems += semantic_problems(playbook, doc)
    values = dict(playbook.vars)
    for name, value in _overrides(overrides, doc.file):
        if isinstance(value, Problem):
            problems.append(value)
        elif name not in values:
            known = ", ".join(values) or "none"
            problems.append(Problem(doc.file, 0, 0, f"--var {name}: the playbook declares no var {name!r} (vars: {known})"))
        else:
            values[name] = value
    if problems:
        raise PlaybookInvalid(_ordered(problems))
    return Checked(playbook, values, doc)


def _ordered(problems: list[Problem]) -> list[Problem]:
    """File order, each problem once."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.column))


def _overrides(overrides: list[str] | dict[str, Any] | None, file: str) -> list[tuple[str, Any]]:
    if isinstance(overrides, dict):
        return list(overrides.items())
    out: list[tuple[str, Any]] = []
    for text in overrides or []:
        try:
            out.append(parse_var(text))
        except ValueError as e:
            out.append(("", Problem(file, 0, 0, str(e))))
    return out


# --- the JSON Schema -----------------------------------------------------------------------------


def schema_problems(doc: Document) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(published_schema())
    problems = []
    for error in validator.iter_errors(doc.data):
        problems.extend(_describe(doc, error))
    return problems


def _where(path: JsonPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "playbook"


def _describe(doc: Document, error: jsonschema.ValidationError) -> list[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    where = _where(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [
            doc.problem(
                (*path, k), f"{where}: unknown field {k!r}{_suggest(str(k), allowed)} (allowed: {', '.join(allowed)})", key=True
            )
            for k in extra
        ]
    if "propertyNames" in error.schema_path:
        return [doc.problem((*path, error.instance), f"{where}: bad name {error.instance!r}: {error.message}", key=True)]
    if error.validator == "oneOf" and all(set(s) == {"required"} for s in error.validator_value):
        names = [n for s in error.validator_value for n in s["required"]]
        given = [n for n in names if isinstance(error.instance, dict) and n in error.instance]
        if given:
            return [doc.problem(path, f"{where}: give only one of {' or '.join(names)}, not {' and '.join(given)}")]
        return [doc.problem(path, f"{where}: needs {' or '.join(n + ':' for n in names)} (an operation or an agent profile)")]
    if error.validator in ("anyOf", "oneOf") and error.context:
        return _alternatives(doc, error, path, where)
    return [doc.problem(path, f"{where}: {error.message}")]


def _alternatives(doc: Document, error: jsonschema.ValidationError, path: JsonPath, where: str) -> list[Problem]:
    """No alternative fits: the errors of the one of the value's type, else the types expected."""
    groups: dict[Any, list[jsonschema.ValidationError]] = {}
    for e in error.context or []:
        groups.setdefault(e.relative_schema_path[0], []).append(e)
    for errors in groups.values():
        if not all(e.validator == "type" and not e.relative_path for e in errors):
            return [p for e in errors for p in _describe(doc, e)]
    wanted = [str(errors[0].validator_value) for errors in groups.values()]
    return [doc.problem(path, f"{where}: {error.instance!r} is not {' or '.join(dict.fromkeys(wanted))}")]


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- what the schema cannot know -----------------------------------------------------------------


def semantic_problems(playbook: Playbook, doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    index: dict[str, int] = {}
    for i, step in enumerate(playbook.steps):
        at: JsonPath = ("steps", i)
        if step.id in index:
            problems.append(doc.problem((*at, "id"), f"duplicate step id {step.id!r} (also step {index[step.id] + 1})"))
        else:
            index[step.id] = i
        if step.uses is not None:
            problems.extend(_operation_problems(step, at, doc))
    for name, value in playbook.vars.items():
        if has_expression(value):
            problems.append(doc.problem(("vars", name), f"vars.{name}: vars are plain values; put expressions in a step's with:"))
    context = _Refs(playbook, index, doc)
    for i, step in enumerate(playbook.steps):
        at = ("steps", i)
        for key, value in step.with_.items():
            problems.extend(context.check(lambda v=value: list(expressions_in(v)), (*at, "with", key), before=i))
        if step.if_ is not None:
            problems.extend(context.check(lambda s=step: _conditions(s.if_), (*at, "if"), before=i))
        for j, a in enumerate(step.assertions):
            where = (*at, "assert", j, "that") if isinstance(step.assert_[j], BaseModel) else (*at, "assert", j)
            problems.extend(context.check(lambda a=a: _conditions(a.that), where, before=i + 1))
            if a.message:
                problems.extend(context.check(lambda a=a: list(expressions_in(a.message)), (*at, "assert", j, "message"), i + 1))
    return problems


def _conditions(value: str | bool | None) -> list[Expr]:
    found = condition(value) if value is not None else True
    return [found] if isinstance(found, Expr) else []


def _operation_problems(step: Step, at: JsonPath, doc: Document) -> list[Problem]:
    name = step.uses or ""
    if name not in OPERATIONS:
        known = sorted(OPERATIONS)
        return [doc.problem((*at, "uses"), f"unknown operation {name!r}{_suggest(name, known)} (known: {', '.join(known)})")]
    model = OPERATIONS[name].input
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    problems = []
    for key in step.with_:
        if key not in fields:
            problems.append(
                doc.problem(
                    (*at, "with", key),
                    f"{name} has no input {key!r}{_suggest(str(key), list(fields))} (inputs: {', '.join(fields)})",
                    key=True,
                )
            )
    missing = [k for k, f in fields.items() if f.is_required() and k not in step.with_]
    for key in missing:
        problems.append(doc.problem((*at, "uses"), f"{name} needs input {key!r} in with:"))
    if problems:
        return problems
    literal = {k: v for k, v in step.with_.items() if not has_expression(v)}
    try:
        model.model_validate(literal)
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err["loc"])
            if err["type"] == "missing" or (not loc and len(literal) < len(step.with_)):
                continue  # given as an expression: checked when the step runs
            key = loc[0] if loc else None
            where = (*at, "with", *loc) if key is not None else (*at, "with")
            field_name = ".".join(map(str, loc)) or "with"
            problems.append(doc.problem(where, f"{name}: {field_name}: {err['msg']}"))
    return problems


class _Refs:
    """Checks the expressions of one place: they compile, and what they read exists by then."""

    def __init__(self, playbook: Playbook, index: dict[str, int], doc: Document) -> None:
        self.playbook, self.index, self.doc = playbook, index, doc

    def check(self, find: Any, path: JsonPath, before: int) -> list[Problem]:
        try:
            exprs: list[Expr] = find()
        except ExpressionError as e:
            return [self.doc.problem(path, str(e))]
        return [self.doc.problem(path, msg) for e in exprs for msg in self._reads(e, before)]

    def _reads(self, expr: Expr, before: int) -> list[str]:
        out = []
        for path in expr.paths():
            root = path[0]
            if root == "vars" and len(path) > 1 and path[1] not in self.playbook.vars:
                known = ", ".join(self.playbook.vars) or "none"
                out.append(
                    f"unknown var {path[1]!r} in {expr.text!r}{_suggest(str(path[1]), list(self.playbook.vars))} (vars: {known})"
                )
            if root != "steps" or len(path) < 2:
                continue
            sid = path[1]
            if sid not in self.index:
                out.append(f"unknown step id {sid!r} in {expr.text!r}{_suggest(str(sid), list(self.index))}")
                continue
            if self.index[sid] >= before:
                out.append(f"step {sid!r} runs later: {expr.text!r} can only read steps that run before")
                continue
            if len(path) > 2 and path[2] not in STEP_FIELDS:
                out.append(f"steps.{sid}.{path[2]}: a step has {' and '.join(STEP_FIELDS)}")
                continue
            step = self.playbook.steps[self.index[sid]]
            if len(path) > 3 and path[2] == "outputs" and step.uses in OPERATIONS:
                output = OPERATIONS[step.uses].output
                if path[3] not in output.model_fields:
                    fields = list(output.model_fields)
                    out.append(
                        f"{step.uses} has no output {path[3]!r}{_suggest(str(path[3]), fields)} (outputs: {', '.join(fields)})"
                    )
        return out
