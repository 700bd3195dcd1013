"""Read-only SQL (DuckDB) over the stored result and catalog tables, for analysts and agents.

Safe by construction rather than by filtering: a query must be a single SELECT; it runs on a fresh
in-memory DuckDB that holds only in-memory Arrow copies of the tables it names, with file, network
and extension access off and the configuration locked, so nothing it does can reach the store or the
machine. Parameters are bound, never spliced; rows, result size and time are capped by
``analytics`` settings.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time as clock
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from screenalytics.errors import ScreenalyticsError
from screenalytics.service.base import ServiceBase
from screenalytics.stores.catalog import SCHEMAS as CATALOG_SCHEMAS
from screenalytics.stores.lance import TABLES

# Every table a query may name: the result tables, then the catalog (schemas as the store writes them).
TABLE_SCHEMAS: dict[str, pa.Schema] = {**{name: record.schema for name, record in TABLES.items()}, **CATALOG_SCHEMAS}

# Nothing outside the process: no files, network, extensions, spilling, or Python variables found by name.
_DUCKDB_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "temp_directory": "",
    "lock_configuration": True,
}


class AnalyticsError(ScreenalyticsError):
    """A query refused or failed; the one-line message names the problem (and the table or column)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnInfo(_Model):
    name: str
    type: str  # DuckDB's type name, as SQL sees it (VARCHAR, DOUBLE, FLOAT[], ...)


class TableInfo(_Model):
    name: str
    columns: list[ColumnInfo]
    row_count: int


class QueryResult(_Model):
    columns: list[str]  # a name repeated in the SELECT gets a suffix (_2, _3) so each row key is unique
    rows: list[dict[str, Any]]  # JSON-safe values
    row_count: int
    truncated: bool  # more rows matched than came back (the row limit or the byte limit)
    elapsed_s: float


class NamedQueryInfo(_Model):
    name: str
    description: str
    params: dict[str, str]  # name -> meaning; every one is optional


@dataclass(frozen=True)
class NamedQuery:
    description: str
    params: dict[str, str]
    sql: str  # uses every param as $name; an unset one is NULL and filters nothing


# An episode with no catalog row is under show 'unsorted', season 0 (as ``Catalog.show_of`` files its artifacts).
SCREEN_TIME_PER_PERSON_PER_SEASON = """
SELECT coalesce(e.show_id, 'unsorted') AS show_id,
       coalesce(e.season, 0) AS season,
       s.person_id,
       sum(s.visual_s) AS visual_s,
       sum(s.speaking_s) AS speaking_s,
       sum(s.both_s) AS both_s,
       count(DISTINCT s.episode_id) AS episodes
FROM screen_time s
LEFT JOIN episodes e ON e.episode_id = s.episode_id
WHERE $show_id IS NULL OR coalesce(e.show_id, 'unsorted') = $show_id
GROUP BY 1, 2, 3
ORDER BY show_id, season, visual_s DESC, person_id
"""

SPEAKING_SHARE = """
SELECT episode_id,
       person_id,
       speaking_s,
       sum(speaking_s) OVER (PARTITION BY episode_id) AS episode_speaking_s,
       speaking_s / nullif(sum(speaking_s) OVER (PARTITION BY episode_id), 0) AS share
FROM screen_time
WHERE $episode_id IS NULL OR episode_id = $episode_id
ORDER BY episode_id, speaking_s DESC, person_id
"""

# Each person's assignment intervals are merged first (gaps and islands), so a person on screen in
# two overlapping tracks is not counted twice; then the merged spans of each pair are intersected.
CO_APPEARANCE = """
WITH chosen AS (
    SELECT episode_id, person_id, start_t, end_t
    FROM assignments
    WHERE $episode_id IS NULL OR episode_id = $episode_id
),
marked AS (
    SELECT *,
           max(end_t) OVER (PARTITION BY episode_id, person_id ORDER BY start_t, end_t
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM chosen
),
islands AS (
    SELECT *,
           sum(CASE WHEN reach IS NULL OR start_t > reach THEN 1 ELSE 0 END)
               OVER (PARTITION BY episode_id, person_id ORDER BY start_t, end_t ROWS UNBOUNDED PRECEDING) AS island
    FROM marked
),
spans AS (
    SELECT episode_id, person_id, min(start_t) AS start_t, max(end_t) AS end_t
    FROM islands
    GROUP BY episode_id, person_id, island
)
SELECT a.episode_id,
       a.person_id AS person_a,
       b.person_id AS person_b,
       sum(least(a.end_t, b.end_t) - greatest(a.start_t, b.start_t)) AS together_s
FROM spans a
JOIN spans b
  ON a.episode_id = b.episode_id AND a.person_id < b.person_id AND a.start_t < b.end_t AND b.start_t < a.end_t
GROUP BY 1, 2, 3
ORDER BY episode_id, together_s DESC, person_a, person_b
"""

NAMED_QUERIES: dict[str, NamedQuery] = {
    "screen_time_per_person_per_season": NamedQuery(
        "Seconds on screen (visual_s), speaking (speaking_s) and both at once (both_s) per show, season and "
        "person, summed over the season's episodes; episodes not in the catalog count under show 'unsorted', season 0.",
        {"show_id": "only this show"},
        SCREEN_TIME_PER_PERSON_PER_SEASON,
    ),
    "speaking_share": NamedQuery(
        "Per episode and person: speaking seconds and their share of the episode's speaking seconds "
        "(share is null in an episode where nobody speaks).",
        {"episode_id": "only this episode"},
        SPEAKING_SHARE,
    ),
    "co_appearance": NamedQuery(
        "Who appears with whom: per episode and unordered pair of people (person_a < person_b), the seconds "
        "both are on screen at once, from the face assignments; every person id counts, unknown ones included.",
        {"episode_id": "only this episode"},
        CO_APPEARANCE,
    ),
}


class AnalyticsOps(ServiceBase):
    def query(self, sql: str, params: dict[str, Any] | list[Any] | None = None, max_rows: int | None = None) -> QueryResult:
        """Run one SELECT over the stored tables; ``$name`` (dict) or ``?`` (list) placeholders take ``params``.

        At most ``max_rows`` rows come back (never more than ``analytics.max_rows``), and rows stop
        before the JSON of the rows would pass ``analytics.max_bytes``; ``truncated`` says either
        happened. The timeout (``analytics.timeout_s``) covers running the query, not reading the tables.
        """
        limits = self.settings.analytics
        limit = limits.max_rows if max_rows is None else min(max_rows, limits.max_rows)
        if limit < 0:
            raise AnalyticsError(f"max_rows must be 0 or more (got {max_rows})")
        check_select(sql)
        start = clock.perf_counter()
        con = self._connect([name for name in TABLE_SCHEMAS if re.search(rf"\b{name}\b", sql, re.IGNORECASE)])
        try:
            columns, raw = _execute(con, sql, params, limit + 1, limits.timeout_s)
        finally:
            con.close()
        rows, size = [], 2  # the brackets of the JSON list
        for values in raw[:limit]:
            row = {c: _json_value(v) for c, v in zip(columns, values)}
            size += len(json.dumps(row)) + 1
            if size > limits.max_bytes:
                if not rows:
                    raise AnalyticsError(
                        f"one row alone is over analytics.max_bytes ({limits.max_bytes} bytes of JSON): select fewer columns"
                    )
                break
            rows.append(row)
        return QueryResult(
            columns=columns,
            rows=rows,
            row_count=len(rows),
            truncated=len(rows) < len(raw),
            elapsed_s=clock.perf_counter() - start,
        )

    def named_query(self, name: str, params: dict[str, Any] | None = None, max_rows: int | None = None) -> QueryResult:
        """One of NAMED_QUERIES, its parameters bound (an unset one filters nothing)."""
        if name not in NAMED_QUERIES:
            raise AnalyticsError(f"unknown named query {name!r} (known: {', '.join(NAMED_QUERIES)})")
        named = NAMED_QUERIES[name]
        unknown = sorted(set(params or {}) - set(named.params))
        if unknown:
            raise AnalyticsError(f"{name} takes no parameter {', '.join(unknown)} (its parameters: {', '.join(named.params)})")
        return self.query(named.sql, {k: (params or {}).get(k) for k in named.params}, max_rows)

    def list_named_queries(self) -> list[NamedQueryInfo]:
        return [NamedQueryInfo(name=n, description=q.description, params=q.params) for n, q in NAMED_QUERIES.items()]

    def list_tables(self) -> list[TableInfo]:
        """Every table a query can name, with its columns (as SQL sees them) and stored row count."""
        stored = self._stored()
        con = duckdb.connect(":memory:", config=_DUCKDB_CONFIG)
        try:
            out = []
            for name in TABLE_SCHEMAS:
                table = self.results.db.open_table(name) if name in stored else None
                con.register(name, _complete(name, table.schema.empty_table() if table else None))
                relation = con.view(name)
                columns = [ColumnInfo(name=c, type=str(t)) for c, t in zip(relation.columns, relation.types)]
                out.append(TableInfo(name=name, columns=columns, row_count=table.count_rows() if table else 0))
            return out
        finally:
            con.close()

    def _stored(self) -> set[str]:
        """Tables the store has now (read fresh: another process may have added some)."""
        return set(self.results.db.list_tables().tables)

    def _connect(self, names: list[str]) -> duckdb.DuckDBPyConnection:
        """A locked-down in-memory DuckDB holding Arrow copies of ``names`` (empty where not stored yet).

        Opened with ``open_table`` only: ``ResultStore.table`` would create a missing table.
        """
        stored = self._stored()
        con = duckdb.connect(":memory:", config=_DUCKDB_CONFIG)
        try:
            for name in names:
                rows = self.results.only_current(name, self.results.db.open_table(name).to_arrow()) if name in stored else None
                con.register(name, _complete(name, rows))
        except Exception as e:
            con.close()
            raise AnalyticsError(f"cannot read table {name}: {_one_line(e)}") from None
        return con


def check_select(sql: str) -> None:
    """Refuse anything but a single SELECT (WITH ... SELECT, VALUES, DESCRIBE count as SELECT)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise AnalyticsError(_one_line(e)) from None
    if len(statements) != 1:
        raise AnalyticsError(f"a query must be exactly one SELECT statement (got {len(statements)} statements)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise AnalyticsError(f"only SELECT queries are allowed (got a {kind.name} statement)")


def _complete(name: str, data: pa.Table | None) -> pa.Table:
    """The table with every current column: an older store's table lacks the newest (they read as null)."""
    schema = TABLE_SCHEMAS[name]
    if data is None:
        return schema.empty_table()
    for field in schema:
        if field.name not in data.column_names:
            data = data.append_column(field, pa.nulls(data.num_rows, field.type))
    return data


def _execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | list[Any] | None, n: int, timeout_s: float
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and at most ``n`` rows; interrupted (and reported as such) after ``timeout_s``."""
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.start()
    try:
        cursor = con.execute(sql, params)
        columns = _unique([d[0] for d in cursor.description or []])
        return columns, cursor.fetchmany(n)
    except duckdb.Error as e:
        if timed_out.is_set():
            raise AnalyticsError(f"query stopped after analytics.timeout_s ({timeout_s:g} s): narrow it or aggregate") from None
        raise AnalyticsError(_one_line(e)) from None
    finally:
        timer.cancel()
        timer.join()  # a stop already under way ends before the caller closes the connection


def _one_line(e: Exception) -> str:
    """DuckDB's message without the query excerpt it appends after a blank line, on one line."""
    text = " ".join(str(e).split("\n\n")[0].split())
    missing = re.search(r"Table with name (\S+) does not exist", text)
    if missing:
        return f"Catalog Error: no table {missing.group(1)} (tables: {', '.join(TABLE_SCHEMAS)})"
    return text


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, i = name, 1
        while candidate in seen:
            i += 1
            candidate = f"{name}_{i}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _json_value(v: Any) -> Any:
    """A DuckDB value as JSON: NaN/inf as null, decimals as floats, times as ISO text, durations as
    seconds, blobs as hex, arrays and structs as lists and objects, anything else (UUID) as text."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, str | int):
        return v
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, Decimal):
        return _json_value(float(v))
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    return str(v)
