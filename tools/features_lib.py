"""The FEATURES staging area: what the new_feature, features_status, promote_feature and check_features
scripts share (see FEATURES/README.md).

A feature is a folder FEATURES/<name>/ with src/, tests/, docs/, TODO.md and feature.yaml:

    name: tiny
    created: 2025-11-25   # the TTL counts from this day
    ttl_days: 30          # check_features.py fails CI once the feature is older than this
    dest: plugins/        # where src/ goes on promotion (a package folder: plugins/, core/stages/, ...)
    docs: docs/           # where docs/*.md go: a folder, or FILE.md#Section (appended to that section)
    config: []            # settings the feature adds (dotted names); each must appear in docs/*.md

It is promoted once its gates pass: ``ruff`` (ruff check on src/ and tests/), ``tests`` (pytest on
tests/), ``docs`` (a non-empty docs/*.md), ``config`` (every declared setting named in the docs) and
``dest`` (a valid destination where nothing would be overwritten).
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
FEATURES = "FEATURES"
META = "feature.yaml"
PRODUCTION = ("core", "plugins", "stores", "mcp_servers")  # code that must never import from FEATURES
DEFAULT_TTL_DAYS = 30
DEFAULT_DEST = "plugins/"
DEFAULT_DOCS = "docs/"
GATES = ("ruff", "tests", "docs", "config", "dest")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
SKIP_FILES = {".gitkeep"}  # placeholders that keep the empty folders in git; never promoted
SETTINGS_CLASS_RE = re.compile(r"(Options|Settings)$")  # pydantic models of a feature's settings


class FeatureError(Exception):
    """A one-line reason a feature cannot be created, read or promoted."""


# --- features and their metadata ------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    root: Path
    name: str
    created: date
    ttl_days: int
    dest: str | None = DEFAULT_DEST
    docs: str = DEFAULT_DOCS
    config: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.root / FEATURES / self.name

    @property
    def src(self) -> Path:
        return self.folder / "src"

    @property
    def tests(self) -> Path:
        return self.folder / "tests"

    @property
    def docs_dir(self) -> Path:
        return self.folder / "docs"

    def age_days(self, today: date | None = None) -> int:
        return ((today or date.today()) - self.created).days

    def days_left(self, today: date | None = None) -> int:
        return self.ttl_days - self.age_days(today)

    def expired(self, today: date | None = None) -> bool:
        return self.days_left(today) < 0


def validate_name(name: str) -> None:
    """A feature name is a lowercase Python identifier (it becomes a module and a folder name)."""
    if not NAME_RE.fullmatch(name) or keyword.iskeyword(name):
        raise FeatureError(
            f"invalid feature name {name!r}: use 1-40 lowercase letters, digits and _, "
            "starting with a letter (not a Python keyword)"
        )


def rel(root: Path, path: Path) -> str:
    """``path`` relative to the repository root, as shown in messages."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def feature_names(root: Path) -> list[str]:
    """Every folder in FEATURES/ (each is a feature, with or without valid metadata)."""
    base = root / FEATURES
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def metadata_text(name: str, created: date, ttl_days: int, dest: str | None) -> str:
    return (
        f"# Staged feature: see FEATURES/README.md. tools/promote_feature.py and tools/check_features.py read this file.\n"
        f"name: {name}\n"
        f"created: {created.isoformat()}  # the TTL counts from this day\n"
        f"ttl_days: {ttl_days}  # tools/check_features.py fails CI once the feature is older than this\n"
        f"dest: {dest or ''}  # where src/ goes on promotion: a package folder such as plugins/ or core/stages/\n"
        f"docs: {DEFAULT_DOCS}  # where docs/*.md go: a folder, or FILE.md#Section to append them to that section\n"
        f"config: []  # settings the feature adds (dotted names, e.g. plugins.{name}.threshold): each must appear in docs/*.md\n"
    )


def todo_text(name: str, until: date) -> str:
    return (
        f"# {name}: to do\n\n"
        f"Staged in FEATURES/ (see FEATURES/README.md); promote it or delete it by {until.isoformat()}.\n\n"
        f"- [ ] code in `src/`: it moves to `dest` (feature.yaml) on promotion, so tests import it from there\n"
        f"- [ ] tests in `tests/` (`test_*.py`): they move to `tests/`\n"
        f"- [ ] docs in `docs/*.md`, naming every setting the feature adds (`config:` in feature.yaml, `Options` models)\n"
        f"- [ ] `tools/promote_feature.py {name} --dry-run` passes every gate\n"
    )


def create_feature(
    root: Path, name: str, *, created: date | None = None, ttl_days: int = DEFAULT_TTL_DAYS, dest: str | None = DEFAULT_DEST
) -> Feature:
    """Make FEATURES/<name>/{src,tests,docs,TODO.md,feature.yaml}; refuses an invalid or existing name."""
    validate_name(name)
    if ttl_days < 1:
        raise FeatureError(f"invalid TTL {ttl_days}: give a number of days >= 1")
    folder = root / FEATURES / name
    if folder.exists():
        raise FeatureError(f"feature {name!r} already exists: {rel(root, folder)}")
    created = created or date.today()
    for sub in ("src", "tests", "docs"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / ".gitkeep").touch()
    (folder / "TODO.md").write_text(todo_text(name, created + timedelta(days=ttl_days)))
    (folder / META).write_text(metadata_text(name, created, ttl_days, dest))
    return load_feature(root, name)


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def load_feature(root: Path, name: str) -> Feature:
    """Read FEATURES/<name>/feature.yaml; every problem is a one-line FeatureError."""
    folder = root / FEATURES / name
    where = f"{FEATURES}/{name}"
    if not folder.is_dir():
        raise FeatureError(f"no feature {name!r}: {where} does not exist")
    meta = folder / META
    if not meta.is_file():
        raise FeatureError(f"{where}: no {META} (create features with tools/new_feature.py)")
    try:
        data = yaml.safe_load(meta.read_text()) or {}
    except yaml.YAMLError as e:
        raise FeatureError(f"{where}/{META}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise FeatureError(f"{where}/{META}: expected a mapping of keys")
    if data.get("name", name) != name:
        raise FeatureError(f"{where}/{META}: name {data['name']!r} does not match the folder {name!r}")
    try:
        created = _as_date(data["created"])
    except KeyError:
        raise FeatureError(f"{where}/{META}: no created date (YYYY-MM-DD)") from None
    except ValueError:
        raise FeatureError(f"{where}/{META}: created {data['created']!r} is not a date (YYYY-MM-DD)") from None
    ttl = data.get("ttl_days", DEFAULT_TTL_DAYS)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise FeatureError(f"{where}/{META}: ttl_days {ttl!r} is not a whole number of days >= 1")
    dest = data.get("dest")
    docs = data.get("docs") or DEFAULT_DOCS
    config = data.get("config") or []
    if dest is not None and not isinstance(dest, str):
        raise FeatureError(f"{where}/{META}: dest must be a folder path such as plugins/")
    if not isinstance(docs, str):
        raise FeatureError(f"{where}/{META}: docs must be a folder (docs/) or FILE.md#Section")
    if not isinstance(config, list) or not all(isinstance(c, str) and c.strip() for c in config):
        raise FeatureError(f"{where}/{META}: config must be a list of setting names")
    return Feature(root, name, created, ttl, dest or None, docs, [c.strip() for c in config])


def feature_files(folder: Path) -> list[Path]:
    """The files of src/, tests/ or docs/ that promotion moves: no placeholders, caches or bytecode."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name not in SKIP_FILES and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def doc_files(feature: Feature) -> list[Path]:
    """docs/*.md with some text in them."""
    if not feature.docs_dir.is_dir():
        return []
    return sorted(p for p in feature.docs_dir.glob("*.md") if p.is_file() and p.read_text().strip())


# --- gates ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    name: str
    ok: bool
    detail: str = ""  # why it failed, one line


def gate_ruff(feature: Feature) -> Gate:
    """``ruff check`` on src/ and tests/, with the repository's ruff settings."""
    paths = [rel(feature.root, p) for p in (feature.src, feature.tests) if p.is_dir()]
    if not paths:
        return Gate("ruff", False, "no src/ or tests/ folder")
    cmd = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *paths]
    proc = subprocess.run(cmd, cwd=feature.root, capture_output=True, text=True)
    if proc.returncode == 0:
        return Gate("ruff", True)
    found = [ln for ln in proc.stdout.splitlines() if re.match(r"\S+:\d+:\d+: ", ln)]
    if not found:
        last = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}").splitlines()[-1]
        return Gate("ruff", False, f"ruff did not run: {last}")
    return Gate("ruff", False, f"{len(found)} problem{'s' * (len(found) > 1)}, first: {found[0]}")


def package_for(root: Path, dest: str | None) -> str | None:
    """The import package of a destination folder, from pyproject.toml's [tool.setuptools] package-dir
    (``plugins/`` -> ``screenalytics.plugins``, ``core/stages/`` -> ``screenalytics.stages``); None if unmapped."""
    pyproject = root / "pyproject.toml"
    if not dest or not pyproject.is_file():
        return None
    try:
        mapping = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-dir"]
    except (KeyError, tomllib.TOMLDecodeError):
        return None
    parts = Path(dest.strip("/")).parts
    best: tuple[int, str] | None = None
    for pkg, folder in mapping.items():
        fparts = Path(folder).parts
        if tuple(parts[: len(fparts)]) == fparts and (best is None or len(fparts) > best[0]):
            best = (len(fparts), ".".join([pkg, *parts[len(fparts) :]]))
    return best[1] if best else None


# Run by the tests gate in a fresh interpreter: the feature's src/ is made importable under the name it
# will have once promoted (appended to the destination package's __path__), and the repository's
# tests/conftest.py is loaded as a plugin, so staged tests run as they will in tests/.
_PYTEST_BOOT = """
import importlib, sys
src, package, repo_tests, *args = sys.argv[1:]
if package:
    importlib.import_module(package).__path__.append(src)
else:
    sys.path.insert(0, src)
if repo_tests:
    sys.path.insert(0, repo_tests)
    args += ["-p", "conftest"]
import pytest
sys.exit(pytest.main(args))
"""


def gate_tests(feature: Feature, dest: str | None = None) -> Gate:
    """pytest on the feature's tests/ (and nothing else)."""
    tests = [p for p in feature_files(feature.tests) if re.fullmatch(r"test_.*\.py|.*_test\.py", p.name)]
    if not tests:
        return Gate("tests", False, f"no tests in {rel(feature.root, feature.tests)} (test_*.py)")
    repo_tests = feature.root / "tests"
    cmd = [
        sys.executable,
        "-c",
        _PYTEST_BOOT,
        str(feature.src),
        package_for(feature.root, dest or feature.dest) or "",
        str(repo_tests) if (repo_tests / "conftest.py").is_file() else "",
        rel(feature.root, feature.tests),
        "-q",
        "-ra",
        "-p",
        "no:cacheprovider",
    ]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, cwd=feature.root, capture_output=True, text=True, env=env)
    if proc.returncode == 0:
        return Gate("tests", True)
    out = proc.stdout.splitlines() + proc.stderr.splitlines()
    if proc.returncode == 5:
        return Gate("tests", False, f"pytest collected no tests in {rel(feature.root, feature.tests)}")
    summary = next((ln.strip("= ") for ln in reversed(out) if re.search(r"\d+ (failed|error|errors|passed)\b", ln)), "")
    first = next((ln for ln in out if ln.startswith(("FAILED ", "ERROR "))), "")
    detail = "; ".join(x for x in (summary, first) if x) or (out[-1] if out else f"pytest exit code {proc.returncode}")
    return Gate("tests", False, detail)


def gate_docs(feature: Feature) -> Gate:
    if doc_files(feature):
        return Gate("docs", True)
    return Gate("docs", False, f"no non-empty {rel(feature.root, feature.docs_dir)}/*.md")


def settings_fields(feature: Feature) -> dict[str, list[str]]:
    """Fields of the pydantic settings models in src/ (classes named Options, *Options or *Settings that
    derive from BaseModel or BaseSettings): class name -> field names."""
    found: dict[str, list[str]] = {}
    for path in feature_files(feature.src):
        if path.suffix != ".py":
            continue
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError:
            continue  # the ruff gate reports it
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ClassDef) and SETTINGS_CLASS_RE.search(node.name)):
                continue
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases}
            if not bases & {"BaseModel", "BaseSettings"}:
                continue
            names = [
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign)
                and isinstance(s.target, ast.Name)
                and not s.target.id.startswith("_")
                and s.target.id != "model_config"
                and "ClassVar" not in ast.unparse(s.annotation)
            ]
            found[f"{rel(feature.root, path)}:{node.name}"] = names
    return found


def gate_config(feature: Feature) -> Gate:
    """Every declared setting is named in docs/*.md: each ``config:`` entry verbatim, each field of a
    settings model in src/ as a word."""
    text = "\n".join(p.read_text() for p in doc_files(feature))
    missing = [c for c in feature.config if c not in text]
    for where, names in settings_fields(feature).items():
        missing += [f"{n} ({where})" for n in names if not re.search(rf"\b{re.escape(n)}\b", text)]
    if missing:
        return Gate("config", False, "not in docs/*.md: " + ", ".join(missing))
    return Gate("config", True)


@dataclass
class Plan:
    """What promotion does: files to move, text to append to a section of a markdown file."""

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    section: tuple[Path, str, str] | None = None  # file, heading, text appended at the end of that section
    problems: list[str] = field(default_factory=list)


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """Markdown headings as (line, level, title); lines inside code fences do not count."""
    heads, fence = [], False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        m = None if fence else re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            heads.append((i, len(m.group(1)), m.group(2)))
    return heads


def find_section(text: str, heading: str) -> tuple[int, int, int] | None:
    """Line span [start, end) and level of the markdown section titled ``heading`` (any case): from its
    heading to the next heading of the same or a higher level."""
    lines = text.splitlines()
    heads = _headings(lines)
    for k, (i, level, title) in enumerate(heads):
        if title.strip().lower() == heading.strip().lower():
            end = next((j for j, lv, _ in heads[k + 1 :] if lv <= level), len(lines))
            return i, end, level
    return None


def append_to_section(text: str, heading: str, addition: str) -> str:
    """``text`` with ``addition`` at the end of section ``heading``; the addition's headings are shifted
    so that its top level sits one below the section's (a ``# Title`` in a ``## Plugins`` section
    becomes ``### Title``)."""
    lines = text.splitlines()
    span = find_section(text, heading)
    if span is None:
        raise FeatureError(f"no section {heading!r}")
    start, stop, level = span
    added = addition.strip().splitlines()
    heads = _headings(added)
    shift = level + 1 - min((lv for _, lv, _ in heads), default=level + 1)
    for i, lv, _ in heads:
        added[i] = "#" * min(6, lv + shift) + added[i].lstrip("#")
    end = stop
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # the section's own trailing blank lines give way to one blank line after the addition
    after = ["", *lines[stop:]] if stop < len(lines) else []
    return "\n".join([*lines[:end], "", *added, *after]) + "\n"


def plan_promotion(feature: Feature, dest: str | None = None) -> Plan:
    """Where each file goes; ``problems`` says why it cannot (the ``dest`` gate)."""
    root, plan = feature.root, Plan()
    dest = dest or feature.dest
    features_dir = (root / FEATURES).resolve()
    src_files = feature_files(feature.src)
    if not any(p.suffix == ".py" for p in src_files):
        plan.problems.append(f"no Python modules in {rel(root, feature.src)}")
    if not dest:
        plan.problems.append("no destination: set dest in feature.yaml or pass --dest")
    else:
        target = root / dest
        if not _inside(root, target) or target.resolve() == root.resolve() or target.resolve().is_relative_to(features_dir):
            plan.problems.append(f"destination {dest!r} must be a folder inside the repository, outside {FEATURES}/")
        elif not target.is_dir():
            plan.problems.append(f"destination {dest!r} is not an existing folder")
        else:
            plan.moves += [(p, target / p.relative_to(feature.src)) for p in src_files]
    plan.moves += [(p, root / "tests" / p.relative_to(feature.tests)) for p in feature_files(feature.tests)]
    if (feature.tests / "__init__.py").is_file() and not (root / "tests" / "__init__.py").exists():
        plan.problems.append(f"{rel(root, feature.tests)}/__init__.py would make tests/ a package: remove it")
    docs = feature_files(feature.docs_dir)
    if "#" in feature.docs:
        file, heading = feature.docs.split("#", 1)
        target = root / file
        if not _inside(root, target) or not target.is_file():
            plan.problems.append(f"docs target {file!r} is not a file in the repository")
        elif find_section(target.read_text(), heading) is None:
            plan.problems.append(f"docs target {file} has no section {heading!r}")
        else:
            md = [p for p in docs if p.suffix == ".md"]
            text = "\n\n".join(p.read_text().strip() for p in md if p.read_text().strip())
            plan.section = (target, heading, text)
        others = [rel(root, p) for p in docs if p.suffix != ".md"]
        if others:
            plan.problems.append(f"a section takes only markdown, not {', '.join(others)}")
    else:
        target = root / feature.docs
        if not _inside(root, target) or target.resolve().is_relative_to(features_dir):
            plan.problems.append(f"docs folder {feature.docs!r} must be inside the repository, outside {FEATURES}/")
        else:
            plan.moves += [(p, target / p.relative_to(feature.docs_dir)) for p in docs]
    plan.problems += [f"would overwrite {rel(root, dst)}" for _, dst in plan.moves if dst.exists()]
    return plan


def gate_dest(feature: Feature, dest: str | None = None) -> Gate:
    problems = plan_promotion(feature, dest).problems
    return Gate("dest", not problems, "; ".join(problems))


def run_gates(feature: Feature, dest: str | None = None) -> list[Gate]:
    """Every gate, in GATES order (all run, so every failure is reported at once)."""
    return [gate_ruff(feature), gate_tests(feature, dest), gate_docs(feature), gate_config(feature), gate_dest(feature, dest)]


def promote(feature: Feature, dest: str | None = None, *, dry_run: bool = False) -> list[str]:
    """Move the feature into production (the gates must have passed) and remove its folder; returns
    one line per action (what would be done, with ``dry_run``)."""
    plan = plan_promotion(feature, dest)
    if plan.problems:
        raise FeatureError("; ".join(plan.problems))
    root, verb = feature.root, "would move" if dry_run else "moved"
    done = []
    for src, dst in plan.moves:
        if not dry_run:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)
        done.append(f"{verb} {rel(root, src)} -> {rel(root, dst)}")
    if plan.section:
        file, heading, text = plan.section
        if not dry_run:
            file.write_text(append_to_section(file.read_text(), heading, text))
        done.append(f"{'would append' if dry_run else 'appended'} docs/*.md to {rel(root, file)} section {heading!r}")
    if not dry_run:
        shutil.rmtree(feature.folder)
    done.append(f"{'would remove' if dry_run else 'removed'} {FEATURES}/{feature.name}")
    return done


# --- the CI check ---------------------------------------------------------------------------------

_FEATURES_PATH = re.compile(r"(^|[/\\])FEATURES([/\\]|$)")
_PATH_EDIT = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend)\b|\+=|=|\[)|addsitedir|PYTHONPATH")


def _is_features_module(name: str | None) -> bool:
    return name is not None and (name == FEATURES or name.startswith(FEATURES + "."))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def _names_features(node: ast.Constant, docstrings: set[int]) -> bool:
    """A string (not a docstring) holding a path through the FEATURES folder."""
    return isinstance(node.value, str) and id(node) not in docstrings and bool(_FEATURES_PATH.search(node.value))


def file_problems(text: str, shown: str) -> list[str]:
    """Ways one production file reaches into FEATURES: imports, dynamic imports, sys.path entries and
    paths naming the folder."""
    if FEATURES not in text:  # every way of reaching it spells the name
        return []
    try:
        tree = ast.parse(text, filename=shown)
    except SyntaxError as e:
        return [f"{shown}:{e.lineno}: cannot parse ({e.msg}), so its imports were not checked"]
    found: dict[int, str] = {}
    docstrings, covered = _docstrings(tree), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_features_module(alias.name):
                    found.setdefault(node.lineno, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _is_features_module(node.module):
                found.setdefault(node.lineno, f"imports from {node.module}")
        elif isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            arg = node.args[0] if node.args else None
            dynamic = func.split(".")[-1] in {"import_module", "__import__"}
            if dynamic and isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _is_features_module(arg.value):
                found.setdefault(node.lineno, f"imports {arg.value} dynamically")
            path_edit = func.startswith("sys.path.") or func.endswith("addsitedir")
            if path_edit and FEATURES in (ast.get_source_segment(text, node) or ""):
                found.setdefault(node.lineno, "puts FEATURES on sys.path")
                covered |= {id(n) for n in ast.walk(node)}  # its strings are this one problem
        elif isinstance(node, ast.Constant) and id(node) not in covered and _names_features(node, docstrings):
            found.setdefault(node.lineno, f"names the FEATURES folder ({node.value!r})")
    for i, line in enumerate(text.splitlines(), 1):  # text check: sys.path edits naming FEATURES on one line
        if _PATH_EDIT.search(line) and FEATURES in line and not line.lstrip().startswith("#"):
            found.setdefault(i, "puts FEATURES on sys.path")
    why = "production code never imports from FEATURES: promote the feature first"
    return [f"{shown}:{n}: {msg} ({why})" for n, msg in sorted(found.items())]


def production_problems(root: Path) -> list[str]:
    """One line per place where core/, plugins/, stores/ or mcp_servers/ reaches into FEATURES."""
    problems = []
    for folder in PRODUCTION:
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            problems += file_problems(path.read_text(encoding="utf-8", errors="replace"), rel(root, path))
    return problems


def ttl_problems(root: Path, today: date | None = None) -> list[str]:
    """One line per feature past its TTL, or whose metadata cannot be read."""
    problems = []
    for name in feature_names(root):
        try:
            f = load_feature(root, name)
        except FeatureError as e:
            problems.append(str(e))
            continue
        if f.expired(today):
            problems.append(
                f"{FEATURES}/{name}: past its TTL: created {f.created.isoformat()}, {f.age_days(today)} days old, "
                f"TTL {f.ttl_days} days (promote it with tools/promote_feature.py {name}, or delete it)"
            )
    return problems
