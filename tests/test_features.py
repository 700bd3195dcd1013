"""The FEATURES staging workflow (tools/new_feature.py, features_status.py, promote_feature.py and
check_features.py) on a small copy of the repository in tmp_path: its pyproject.toml (ruff settings,
package folders), README.md, tests/conftest.py and the production package folders. The gates run for
real: ruff, and pytest on the one tiny staged test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import check_features  # noqa: E402
import features_status  # noqa: E402
import new_feature  # noqa: E402
import promote_feature  # noqa: E402

TODAY = date.today()

SRC = '''"""Scales numbers (a staged feature)."""

from pydantic import BaseModel


class Options(BaseModel, extra="forbid"):
    factor: int = 2


def scale(x: int, options: Options | None = None) -> int:
    return x * (options or Options()).factor
'''

# Imports the module by its production name; the fixture comes from the repository's tests/conftest.py.
TEST = """from screenalytics.PACKAGE.tiny import Options, scale


def test_scale(_isolated_store, tmp_path):
    assert scale(3) == 6 and scale(3, Options(factor=3)) == 9
    assert _isolated_store.parent == tmp_path
"""

DOC = "# Tiny\n\nScales numbers by `plugins.tiny.factor` (default 2).\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in ("pyproject.toml", "README.md", "FEATURES/README.md", "tests/conftest.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    for folder in ("core", "core/stages", "plugins", "stores", "mcp_servers"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / folder / "__init__.py", root / folder / "__init__.py")
    return root


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (caches left out)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and ".ruff_cache" not in p.parts
    }


def create(root: Path, name: str = "tiny", *args: str) -> int:
    return new_feature.main([name, "--root", str(root), *args])


def staged(root: Path, *, package: str = "plugins", docs: str | None = None) -> Path:
    """A feature ``tiny`` whose every gate passes: a module, its test, its docs, its setting declared."""
    assert create(root) == 0
    folder = root / "FEATURES" / "tiny"
    (folder / "src" / "tiny.py").write_text(SRC)
    (folder / "tests" / "test_tiny.py").write_text(TEST.replace("PACKAGE", package))
    (folder / "docs" / "tiny.md").write_text(DOC)
    meta = (folder / "feature.yaml").read_text().replace("config: []", "config: [plugins.tiny.factor]")
    if docs:
        meta = meta.replace("docs: docs/", f"docs: {docs}")
    (folder / "feature.yaml").write_text(meta)
    return folder


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


# --- new_feature.py ------------------------------------------------------------------------------


def test_new_feature_creates_the_layout_and_metadata(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert create(repo) == 0
    folder = repo / "FEATURES" / "tiny"
    assert all((folder / sub).is_dir() for sub in ("src", "tests", "docs"))
    assert "tools/promote_feature.py tiny" in (folder / "TODO.md").read_text()
    meta = yaml.safe_load((folder / "feature.yaml").read_text())
    assert meta == {"name": "tiny", "created": TODAY, "ttl_days": 30, "dest": "plugins/", "docs": "docs/", "config": []}
    assert "created FEATURES/tiny/" in capsys.readouterr().out

    assert create(repo, "other", "--ttl-days", "7", "--created", "2025-01-02", "--dest", "core/stages/") == 0
    meta = yaml.safe_load((repo / "FEATURES" / "other" / "feature.yaml").read_text())
    assert (meta["created"], meta["ttl_days"], meta["dest"]) == (date(2025, 1, 2), 7, "core/stages/")


@pytest.mark.parametrize("name", ["Tiny", "2fast", "a-b", "../evil", "a b", "class", "x" * 41, ""])
def test_new_feature_refuses_an_invalid_name(repo: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    before = files(repo)
    assert create(repo, name) == 1
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(f"error: invalid feature name {name!r}")
    assert files(repo) == before


def test_new_feature_refuses_an_existing_one(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert create(repo) == 0
    todo = repo / "FEATURES" / "tiny" / "TODO.md"
    todo.write_text("work in progress\n")
    capsys.readouterr()
    assert create(repo, "tiny", "--ttl-days", "5") == 1
    assert lines(capsys.readouterr().err) == ["error: feature 'tiny' already exists: FEATURES/tiny"]
    assert todo.read_text() == "work in progress\n"
    assert yaml.safe_load((todo.parent / "feature.yaml").read_text())["ttl_days"] == 30


# --- features_status.py --------------------------------------------------------------------------


def test_status_shows_age_ttl_days_left_and_each_gate(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # the table's width, whatever the terminal
    staged(repo)
    meta = repo / "FEATURES" / "tiny" / "feature.yaml"
    meta.write_text(meta.read_text().replace(f"created: {TODAY}", f"created: {TODAY - timedelta(days=12)}"))
    assert create(repo, "fresh", "--created", str(TODAY - timedelta(days=45)), "--ttl-days", "40") == 0
    (repo / "FEATURES" / "broken").mkdir()
    capsys.readouterr()

    assert features_status.main(["--json", "--root", str(repo)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    tiny, fresh = rows["tiny"], rows["fresh"]
    assert (tiny["age_days"], tiny["ttl_days"], tiny["days_left"], tiny["expired"]) == (12, 30, 18, False)
    assert tiny["ready"] and all(g["ok"] for g in tiny["gates"].values())
    assert (fresh["age_days"], fresh["ttl_days"], fresh["days_left"], fresh["expired"]) == (45, 40, -5, True)
    # an empty scaffold: nothing to test, no docs, no module; ruff and config have nothing to object to
    assert {g: v["ok"] for g, v in fresh["gates"].items()} == {
        "ruff": True,
        "tests": False,
        "docs": False,
        "config": True,
        "dest": False,
    }
    assert "no tests in FEATURES/fresh/tests" in fresh["gates"]["tests"]["detail"]
    assert rows["broken"]["error"] == "FEATURES/broken: no feature.yaml (create features with tools/new_feature.py)"
    assert rows["broken"]["gates"] is None and set(rows["broken"]) == set(tiny)

    assert features_status.main(["--root", str(repo)]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if " tiny " in ln)
    assert [c.strip() for c in row.strip("│┃ ").split("│")] == ["tiny", "12", "30", "18", *["pass"] * 5]
    assert "fresh docs: no non-empty FEATURES/fresh/docs/*.md" in out
    assert "FEATURES/broken: no feature.yaml" in out


# --- promote_feature.py --------------------------------------------------------------------------


def break_ruff(folder: Path) -> None:
    (folder / "src" / "tiny.py").write_text(SRC.replace("from pydantic", "import os\n\nfrom pydantic"))


def break_test(folder: Path) -> None:
    (folder / "tests" / "test_tiny.py").write_text(TEST.replace("PACKAGE", "plugins").replace("== 6", "== 7"))


def drop_docs(folder: Path) -> None:
    (folder / "docs" / "tiny.md").unlink()


def undocumented_setting(folder: Path) -> None:
    (folder / "docs" / "tiny.md").write_text("# Tiny\n\nScales numbers.\n")


def occupied_destination(folder: Path) -> None:
    (folder.parents[1] / "plugins" / "tiny.py").write_text('"""Already here."""\n')


def package_tests(folder: Path) -> None:
    (folder / "tests" / "__init__.py").write_text("")


@pytest.mark.parametrize(
    ("breakage", "failed", "reason"),
    [
        (break_ruff, {"ruff"}, "F401"),
        (break_test, {"tests"}, "1 failed"),
        (drop_docs, {"docs", "config"}, "no non-empty FEATURES/tiny/docs/*.md"),
        (undocumented_setting, {"config"}, "plugins.tiny.factor, factor (FEATURES/tiny/src/tiny.py:Options)"),
        (occupied_destination, {"dest"}, "would overwrite plugins/tiny.py"),
        (package_tests, {"dest"}, "FEATURES/tiny/tests/__init__.py would make tests/ a package"),
    ],
)
def test_promotion_is_refused_when_a_gate_fails(repo: Path, capsys: pytest.CaptureFixture[str], breakage, failed, reason) -> None:
    breakage(staged(repo))
    before = files(repo)
    capsys.readouterr()
    assert promote_feature.main(["tiny", "--root", str(repo)]) == 1
    err = lines(capsys.readouterr().err)
    gate_lines = [ln for ln in err if ln.startswith("gate ")]
    assert {ln.split()[1] for ln in gate_lines} == failed and len(gate_lines) == len(failed)
    assert any(reason in ln for ln in gate_lines), err
    assert err[-1] == f"not promoted: {len(failed)} of 5 gates failed; nothing was moved"
    assert files(repo) == before


def test_promotion_moves_the_feature_into_production(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staged(repo)
    before = files(repo)
    capsys.readouterr()
    assert promote_feature.main(["tiny", "--root", str(repo), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would move FEATURES/tiny/src/tiny.py -> plugins/tiny.py" in out
    assert files(repo) == before

    assert promote_feature.main(["tiny", "--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "gates passed: ruff, tests, docs, config, dest" in out and "promoted FEATURES/tiny" in out
    after = files(repo)
    assert after["plugins/tiny.py"] == SRC.encode()
    assert after["tests/test_tiny.py"] == TEST.replace("PACKAGE", "plugins").encode()
    assert after["docs/tiny.md"] == DOC.encode()
    assert not (repo / "FEATURES" / "tiny").exists() and (repo / "FEATURES" / "README.md").is_file()
    moved = {"plugins/tiny.py", "tests/test_tiny.py", "docs/tiny.md"}
    assert set(after) == {k for k in before if not k.startswith("FEATURES/tiny/")} | moved


def test_promotion_to_another_package_and_a_readme_section(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dest overrides feature.yaml (the staged test imports screenalytics.stages.tiny) and the docs are
    appended to the README's Plugins section, their headings one level below it."""
    staged(repo, package="stages", docs="README.md#Plugins")
    readme = (repo / "README.md").read_text()
    assert promote_feature.main(["tiny", "--root", str(repo), "--dest", "core/stages/"]) == 0
    assert (repo / "core" / "stages" / "tiny.py").read_text() == SRC
    assert not (repo / "plugins" / "tiny.py").exists() and not (repo / "docs").exists()
    text = (repo / "README.md").read_text()
    added = "### Tiny\n\nScales numbers by `plugins.tiny.factor` (default 2).\n\n"
    assert text.index("## Plugins") < text.index(added) < text.index("## Layout")
    assert text.replace(added, "", 1) == readme
    assert not (repo / "FEATURES" / "tiny").exists()


# --- check_features.py ---------------------------------------------------------------------------


LEAKS = {
    "core/leak.py": ('"""Says FEATURES/ in a docstring, which is fine."""\n\nimport FEATURES.tiny.src.tiny\n', 3),
    "plugins/leak.py": ("from FEATURES.tiny.src import tiny\n", 1),
    "stores/leak.py": ('import importlib\n\nmod = importlib.import_module("FEATURES.tiny")\n', 3),
    "mcp_servers/leak.py": ('import sys\n\nsys.path.insert(0, "FEATURES/tiny/src")\n', 3),
    "core/stages/leak.py": (
        "import sys\nfrom pathlib import Path\n\nsys.path.append(\n    str(Path(__file__).parents[2] / 'FEATURES' / 'tiny')\n)\n",
        4,
    ),
}


def test_check_features_flags_production_code_reaching_into_features(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "core" / "clean.py").write_text('"""Never imports from FEATURES/."""\n\n# nor puts FEATURES on sys.path\nimport os\n')
    assert check_features.main(["--root", str(repo)]) == 0
    assert capsys.readouterr().out.startswith("features ok")
    for path, (text, _) in LEAKS.items():
        (repo / path).write_text(text)
    assert check_features.main(["--root", str(repo)]) == 1
    err = lines(capsys.readouterr().err)
    assert sorted(ln.split(": ")[0] for ln in err) == sorted(f"{path}:{n}" for path, (_, n) in LEAKS.items()), err
    assert all("production code never imports from FEATURES" in ln for ln in err)


def test_check_features_flags_a_feature_past_its_ttl(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert create(repo, "due", "--created", str(TODAY - timedelta(days=30))) == 0  # its last day: fine
    assert check_features.main(["--root", str(repo)]) == 0
    assert create(repo, "old", "--created", str(TODAY - timedelta(days=31))) == 0
    (repo / "FEATURES" / "loose").mkdir()
    capsys.readouterr()
    assert check_features.main(["--root", str(repo)]) == 1
    assert lines(capsys.readouterr().err) == [
        "FEATURES/loose: no feature.yaml (create features with tools/new_feature.py)",
        f"FEATURES/old: past its TTL: created {TODAY - timedelta(days=31)}, 31 days old, TTL 30 days "
        "(promote it with tools/promote_feature.py old, or delete it)",
    ]


def test_check_features_passes_on_the_real_repository() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "check_features.py"), "--root", str(REPO)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("features ok")
