"""Read-only SQL over the stores: the named queries' numbers, and every safety rule."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from screenalytics.config import load_settings
from screenalytics.model.records import Assignment, FaceEmbedding, ScreenTime
from screenalytics.service import analytics
from screenalytics.service.analytics import NAMED_QUERIES, TABLE_SCHEMAS, AnalyticsError, AnalyticsOps
from screenalytics.stores import open_results
from screenalytics.stores.catalog import Catalog


def _assign(track_id: int, person_id: str, start_t: float, end_t: float) -> Assignment:
    return Assignment(track_id, start_t, end_t, person_id, 0.9, 0.2, "facebank", 0.5)


@pytest.fixture(scope="module")
def store(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Show s1 season 1 holds ep1 and ep2; ep3 is not in the catalog."""
    settings = load_settings(storage={"uri": str(tmp_path_factory.mktemp("analytics"))})
    results = open_results(settings)
    screen_time = {
        "ep1": [ScreenTime("alice", 10.0, 4.0, 3.0, 0.9), ScreenTime("bob", 5.0, 6.0, 2.0, 0.8)],
        "ep2": [ScreenTime("alice", 20.0, 1.0, 1.0, 0.9)],
        "ep3": [ScreenTime("alice", 7.0, 0.0, 0.0, 0.9)],
    }
    assignments = {
        # alice's first two tracks overlap each other: merged to 0-12, they meet bob's 8-22 for 4 s, then 20-22 for 2 s
        "ep1": [
            _assign(1, "alice", 0, 10),
            _assign(2, "alice", 5, 12),
            _assign(3, "alice", 20, 30),
            _assign(4, "bob", 8, 22),
            _assign(5, "carol", 25, 26),
        ],
        "ep2": [_assign(1, "alice", 0, 5), _assign(2, "bob", 5, 10)],  # touching, never together
        "ep3": [],
    }
    for ep in screen_time:
        tables = {
            "screen_time": ScreenTime.to_table(screen_time[ep], episode_id=ep, run_id="r1"),
            "assignments": Assignment.to_table(assignments[ep], episode_id=ep, run_id="r1"),
        }
        if ep == "ep1":
            vector = FaceEmbedding("track", "1", "window:0", "arcface", [0.5, 0.25], t=1.0)
            tables["embeddings"] = FaceEmbedding.to_table([vector], episode_id=ep, run_id="r1")
        results.save_run(ep, "r1", tables)
    catalog = Catalog(results)
    catalog.add_show("s1", "Show One")
    catalog.add_episode("ep1", "s1", 1, 1)
    catalog.add_episode("ep2", "s1", 1, 2)
    return settings


@pytest.fixture
def ops(store):  # type: ignore[no-untyped-def]
    return AnalyticsOps(store)


def _counts(ops: AnalyticsOps) -> dict[str, int]:
    db = ops.results.db
    return {name: db.open_table(name).count_rows() for name in db.list_tables().tables}


def _refused(call, *words: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(AnalyticsError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert all(w.lower() in message.lower() for w in words), message
    return message


# -- named queries ---------------------------------------------------------------------------
def test_screen_time_per_season_sums_episodes_and_files_uncatalogued_ones_as_unsorted(ops):
    rows = ops.named_query("screen_time_per_person_per_season").rows
    got = {
        (r["show_id"], r["season"], r["person_id"]): (r["visual_s"], r["speaking_s"], r["both_s"], r["episodes"]) for r in rows
    }
    assert got == {
        ("s1", 1, "alice"): (30.0, 5.0, 4.0, 2),
        ("s1", 1, "bob"): (5.0, 6.0, 2.0, 1),
        ("unsorted", 0, "alice"): (7.0, 0.0, 0.0, 1),
    }
    only = ops.named_query("screen_time_per_person_per_season", {"show_id": "s1"}).rows
    assert [r["person_id"] for r in only] == ["alice", "bob"]


def test_speaking_share_sums_to_one_per_episode(ops):
    rows = ops.named_query("speaking_share").rows
    share = {(r["episode_id"], r["person_id"]): r["share"] for r in rows}
    assert share[("ep1", "alice")] == pytest.approx(0.4) and share[("ep1", "bob")] == pytest.approx(0.6)
    assert share[("ep2", "alice")] == pytest.approx(1.0)
    assert share[("ep3", "alice")] is None  # nobody speaks in ep3
    assert [r["person_id"] for r in ops.named_query("speaking_share", {"episode_id": "ep1"}).rows] == ["bob", "alice"]


def test_co_appearance_counts_seconds_together_once(ops):
    rows = ops.named_query("co_appearance").rows
    assert [(r["episode_id"], r["person_a"], r["person_b"], r["together_s"]) for r in rows] == [
        ("ep1", "alice", "bob", 6.0),
        ("ep1", "alice", "carol", 1.0),
    ]
    assert ops.named_query("co_appearance", {"episode_id": "ep2"}).rows == []


def test_named_queries_are_listed_and_checked(ops):
    listed = {q.name: q.params for q in ops.list_named_queries()}
    assert listed == {name: q.params for name, q in NAMED_QUERIES.items()} and "co_appearance" in listed
    _refused(lambda: ops.named_query("nope"), "unknown named query", "speaking_share")
    _refused(lambda: ops.named_query("speaking_share", {"show_id": "s1"}), "show_id", "episode_id")


# -- tables ----------------------------------------------------------------------------------
def test_list_tables_names_every_table_with_columns_and_counts(ops):
    tables = {t.name: t for t in ops.list_tables()}
    assert list(tables) == list(TABLE_SCHEMAS)
    assert tables["screen_time"].row_count == 4 and tables["episodes"].row_count == 2 and tables["tracks"].row_count == 0
    types = {c.name: c.type for c in tables["embeddings"].columns}
    assert types["vector"] == "FLOAT[]" and types["episode_id"] == "VARCHAR"


def test_values_come_back_json_safe(ops):
    result = ops.query(
        "SELECT vector, t, 1.5::DECIMAL(4, 2) AS d, DATE '2024-01-02' AS day, INTERVAL 3 SECOND AS gap, "
        "'ab'::BLOB AS b, 'nan'::DOUBLE AS n, {'k': [1, 2]} AS s, [1, 2]::INT[2] AS fixed, 1 AS t FROM embeddings"
    )
    assert result.columns == ["vector", "t", "d", "day", "gap", "b", "n", "s", "fixed", "t_2"]
    assert result.rows == [
        {
            "vector": [0.5, 0.25],
            "t": 1.0,
            "d": 1.5,
            "day": "2024-01-02",
            "gap": 3.0,
            "b": "6162",
            "n": None,
            "s": {"k": [1, 2]},
            "fixed": [1, 2],
            "t_2": 1,
        }
    ]
    json.dumps(result.model_dump())


def test_reading_an_empty_store_creates_nothing(tmp_path):
    ops = AnalyticsOps(load_settings(storage={"uri": str(tmp_path / "empty")}))
    assert ops.query("SELECT count(*) AS n FROM screen_time JOIN episodes USING (episode_id)").rows == [{"n": 0}]
    assert ops.query("SELECT * FROM embeddings").columns == TABLE_SCHEMAS["embeddings"].names
    assert all(t.row_count == 0 for t in ops.list_tables())
    assert ops.results.db.list_tables().tables == []


# -- safety ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO screen_time SELECT * FROM screen_time", "INSERT"),
        ("UPDATE screen_time SET visual_s = 0", "UPDATE"),
        ("DELETE FROM screen_time", "DELETE"),
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("DROP TABLE screen_time", "DROP"),
        ("COPY screen_time TO '{out}'", "COPY"),
        ("ATTACH '{out}' AS other", "ATTACH"),
        ("PRAGMA version", "PRAGMA"),
        ("SET threads = 1", "SET"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD httpfs", "LOAD"),
        ("EXPORT DATABASE '{out}'", "EXPORT"),
        ("CALL pragma_version()", "CALL"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("SELECT 1; DROP TABLE screen_time", "2 statements"),
        ("  ;  ", "0 statements"),
        ("SELEC 1", "syntax error"),
    ],
)
def test_only_a_single_select_runs(ops, tmp_path, monkeypatch, sql, kind):
    before = _counts(ops)
    out = tmp_path / "leak"
    monkeypatch.setattr(AnalyticsOps, "_connect", lambda *a: pytest.fail("a refused query reached DuckDB"))
    _refused(lambda: ops.query(sql.format(out=out)), kind)
    assert not out.exists() and _counts(ops) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
        "SELECT * FROM query('SELECT * FROM read_blob(''/etc/hostname'')')",
    ],
)
def test_sql_reaches_no_file_or_network(ops, sql):
    _refused(lambda: ops.query(sql), "disabled")


def test_python_variables_are_not_tables(ops, monkeypatch):
    monkeypatch.setattr(analytics, "secret", pa.table({"x": [1]}), raising=False)  # DuckDB's replacement scan would find it
    _refused(lambda: ops.query("SELECT * FROM secret"), "no table secret", "screen_time")


@pytest.mark.parametrize("value", ["x' OR '1'='1", "'; DROP TABLE screen_time; --"])
def test_parameters_are_bound_not_spliced(ops, value):
    before = _counts(ops)
    assert ops.query("SELECT * FROM screen_time WHERE person_id = $p", {"p": value}).rows == []
    assert ops.query("SELECT * FROM screen_time WHERE person_id = ?", [value]).rows == []
    assert ops.named_query("speaking_share", {"episode_id": value}).rows == []
    assert ops.named_query("screen_time_per_person_per_season", {"show_id": value}).rows == []
    assert _counts(ops) == before and ops.query("SELECT count(*) AS n FROM screen_time").rows == [{"n": 4}]


def test_rows_are_capped(store):
    ops = AnalyticsOps(load_settings(storage=store.storage.model_dump(), analytics={"max_rows": 5}))
    capped = ops.query("SELECT * FROM range(100)", max_rows=100)  # a caller cannot raise the configured cap
    assert capped.row_count == 5 and capped.truncated and [r["range"] for r in capped.rows] == [0, 1, 2, 3, 4]
    fewer = ops.query("SELECT * FROM range(100)", max_rows=2)
    assert fewer.row_count == 2 and fewer.truncated
    exact = ops.query("SELECT * FROM range(5)")
    assert exact.row_count == 5 and not exact.truncated
    assert ops.query("SELECT * FROM range(3)", max_rows=0).truncated
    _refused(lambda: ops.query("SELECT 1", max_rows=-1), "max_rows")


def test_bytes_are_capped(store):
    ops = AnalyticsOps(load_settings(storage=store.storage.model_dump(), analytics={"max_bytes": 1000}))
    result = ops.query("SELECT repeat('x', 100) AS s FROM range(50)")
    assert result.truncated and 0 < result.row_count < 50
    assert len(json.dumps(result.rows)) <= 1000
    _refused(lambda: ops.query("SELECT repeat('x', 2000) AS s"), "max_bytes")


def test_slow_queries_are_stopped(store):
    ops = AnalyticsOps(load_settings(storage=store.storage.model_dump(), analytics={"timeout_s": 0.3}))
    _refused(lambda: ops.query("SELECT count(*) FROM range(10000000000)"), "timeout_s", "0.3 s")
    assert ops.query("SELECT 1 AS one").rows == [{"one": 1}]


def test_errors_name_the_table_or_column(ops):
    _refused(lambda: ops.query("SELECT nope FROM screen_time"), "nope")
    _refused(lambda: ops.query("SELECT * FROM screentime"), "screentime")
    _refused(lambda: ops.query("SELECT * FROM screen_time WHERE person_id = $p"), "p")
