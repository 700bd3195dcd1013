"""Run results in LanceDB: one table per record type, rows keyed by episode and run."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import lancedb
import pyarrow as pa

from screenalytics.config import Settings
from screenalytics.faults import kill_point
from screenalytics.model.records import (
    Assignment,
    AVLink,
    Detection,
    FaceEmbedding,
    HistoryEntry,
    ScreenTime,
    SpeechSegment,
    Track,
    TranscriptWord,
    keyed,
)
from screenalytics.stores.location import DB_DIR, explain, location

# 1: vision; 2: audio tables, mouth_motion; 3: review ids, assignment_history; 4: assignment confidence;
# 5: detections.speaking
SCHEMA_VERSION = 5
META = "_meta"
CURRENT = "_current_runs"  # episode_id -> the run whose rows readers see (flipped in one commit)
CURRENT_SCHEMA = pa.schema([("episode_id", pa.string()), ("run_id", pa.string()), ("saved_at", pa.float64())])
T = TypeVar("T")

TABLES: dict[str, Any] = {
    "detections": Detection,
    "tracks": Track,
    "embeddings": FaceEmbedding,
    "assignments": Assignment,
    "screen_time": ScreenTime,
    "speech_segments": SpeechSegment,
    "transcripts": TranscriptWord,
    "av_links": AVLink,
    "assignment_history": HistoryEntry,
}


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def replace_rows(table: Any, rows: pa.Table, where: str, keep: str) -> None:
    """Add ``rows``, then delete the old rows matching ``where`` but not ``keep`` (which marks the new
    ones): a reader never finds the rows missing, and a failure part-way loses nothing."""
    retrying(lambda: table.add(rows))
    retrying(lambda: table.delete(f"({where}) AND NOT ({keep})"))


def is_conflict(e: Exception) -> bool:
    """A commit another writer beat us to (Lance retries appends itself, not deletes or updates)."""
    text = str(e).lower()
    return any(k in text for k in ("commit conflict", "conflicting", "write contention", "concurrent commit", "already exists"))


def retrying(op: Callable[[], T], attempts: int = 12, first_wait_s: float = 0.05) -> T:
    """Run a table write again after a commit conflict, with jittered exponential backoff: many
    batch workers write the same tables, and a conflicting delete is safe to re-plan on the new head."""
    for n in range(attempts):
        try:
            return op()
        except Exception as e:
            if n == attempts - 1 or not is_conflict(e):
                raise
            time.sleep(first_wait_s * (2 ** min(n, 6)) * (0.5 + random.random()))
    raise AssertionError("unreachable")


class ResultStore:
    """Episode results; re-running an episode replaces its rows instead of adding to them."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri = uri
        try:
            self.db = lancedb.connect(uri, storage_options=storage_options)
            self._names = set(self.db.list_tables().tables)
        except Exception as e:  # lancedb raises several types for a bad location
            raise explain(e, uri) from None

    def schema_version(self) -> int:
        """The version the store's tables were last migrated to (0: a new or pre-versioning store)."""
        if META not in self._names:
            return 0
        rows = self.db.open_table(META).to_arrow().to_pylist()
        return max((int(r["schema_version"]) for r in rows), default=0)

    def migrate(self) -> int:
        """Bring every table to the current schema (new columns are added empty); idempotent."""
        for name in TABLES:
            self.table(name)
        if self.schema_version() < SCHEMA_VERSION:
            row = pa.table({"schema_version": pa.array([SCHEMA_VERSION], pa.int64())})
            meta = self.open_or_create(META, row.schema)  # many batch workers may create it at once
            retrying(lambda: meta.add(row))
        return SCHEMA_VERSION

    def table(self, name: str) -> Any:
        if name not in TABLES:
            raise KeyError(name)
        schema = TABLES[name].schema
        if name not in self._names:
            table = retrying(lambda: self.db.create_table(name, schema=schema, exist_ok=True))
            self._names.add(name)
            return table
        table = self.db.open_table(name)
        missing = [f for f in schema if f.name not in table.schema.names]
        if missing:  # a table written by an older version: add the new columns (empty for old rows)
            table.add_columns(missing)
        return table

    def save_run(self, episode_id: str, run_id: str, tables: dict[str, pa.Table]) -> None:
        """Replace the episode's results atomically: stage the new run's rows beside the old ones,
        flip the episode's current run in one commit, then drop every other run's rows.

        Readers only see the current run's rows, so a crash at any point leaves either the old
        results or the new ones, never a mix and never nothing; the next save removes the leftovers.
        """
        where = f"episode_id = {quote(episode_id)}"
        try:
            self.migrate()
            for name, rows in tables.items():
                table = self.table(name)
                retrying(lambda t=table: t.delete(f"{where} AND run_id = {quote(run_id)}"))  # a retried save: no duplicates
                retrying(lambda t=table, r=rows: t.add(r))
            kill_point("save:staged")
            self._set_current(episode_id, run_id)
            kill_point("save:flipped")
            for name in tables:
                table = self.table(name)
                retrying(lambda t=table: t.delete(f"{where} AND run_id != {quote(run_id)}"))
        except Exception as e:
            raise explain(e, self.uri) from None

    # -- which run is current ------------------------------------------------------------------
    def _current_table(self) -> Any:
        return self.open_or_create(CURRENT, CURRENT_SCHEMA)

    def _set_current(self, episode_id: str, run_id: str) -> None:
        row = pa.table({"episode_id": [episode_id], "run_id": [run_id], "saved_at": [time.time()]}, schema=CURRENT_SCHEMA)
        table = self._current_table()
        retrying(lambda: table.merge_insert("episode_id").when_matched_update_all().when_not_matched_insert_all().execute(row))

    def current_runs(self) -> dict[str, str]:
        """episode_id -> current run_id, for episodes saved since runs are flipped atomically."""
        if CURRENT not in self._names and CURRENT not in set(self.db.list_tables().tables):
            return {}
        rows = self.db.open_table(CURRENT).to_arrow().to_pylist()
        return {r["episode_id"]: r["run_id"] for r in rows}

    def current_run(self, episode_id: str) -> str | None:
        if CURRENT not in self._names and CURRENT not in set(self.db.list_tables().tables):
            return None
        rows = self.db.open_table(CURRENT).search().where(f"episode_id = {quote(episode_id)}").limit(None).to_arrow()
        return rows.column("run_id")[0].as_py() if rows.num_rows else None

    def forget_current(self, episode_id: str) -> None:
        """Drop an episode's current-run record (when its rows are purged)."""
        if CURRENT in set(self.db.list_tables().tables):
            table = self.db.open_table(CURRENT)
            retrying(lambda: table.delete(f"episode_id = {quote(episode_id)}"))

    def _visible(self, name: str, episode_id: str | None) -> str | None:
        """The filter that hides rows of runs that are not (or not yet) current."""
        if name == "assignment_history":  # edits of earlier runs are history, not results
            return f"episode_id = {quote(episode_id)}" if episode_id else None
        if episode_id is None:
            return None
        run = self.current_run(episode_id)
        where = f"episode_id = {quote(episode_id)}"
        return where if run is None else f"{where} AND run_id = {quote(run)}"

    # -- vector search -----------------------------------------------------------------------
    def open_or_create(self, name: str, schema: pa.Schema) -> Any:
        """A table that other modules own the schema of (catalog, vector tables)."""
        if name not in self._names:
            retrying(lambda: self.db.create_table(name, schema=schema, exist_ok=True))
            self._names.add(name)
        return self.db.open_table(name)

    def vector_table(self, dim: int) -> Any:
        """Embeddings of one dimension as fixed-size vectors, the form LanceDB indexes and searches."""
        schema = keyed(
            ("owner", pa.string()), ("owner_id", pa.string()), ("model", pa.string()), ("vector", pa.list_(pa.float32(), dim))
        )
        return self.open_or_create(f"vectors_{dim}", schema)

    def index_vectors(self, episode_id: str, run_id: str, min_rows_for_index: int) -> None:
        """Mirror the episode's embeddings into the per-dimension vector tables; build an
        approximate (IVF-PQ, cosine) index once a table holds ``min_rows_for_index`` rows."""
        try:
            self._index_vectors(episode_id, run_id, min_rows_for_index)
        except Exception as e:
            raise explain(e, self.uri) from None

    def _index_vectors(self, episode_id: str, run_id: str, min_rows_for_index: int) -> None:
        rows = self.read("embeddings", episode_id).to_pylist()
        by_dim: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            by_dim.setdefault(len(r["vector"]), []).append(r)
        for dim, items in by_dim.items():
            table = self.vector_table(dim)
            fixed = pa.table(
                {
                    "episode_id": [episode_id] * len(items),
                    "run_id": [run_id] * len(items),
                    "owner": [r["owner"] for r in items],
                    "owner_id": [r["owner_id"] for r in items],
                    "model": [r["model"] for r in items],
                    "vector": pa.array([r["vector"] for r in items], type=pa.list_(pa.float32(), dim)),
                },
                schema=table.schema,
            )
            mine = f"episode_id = {quote(episode_id)}"
            retrying(lambda t=table, m=mine: t.delete(f"{m} AND run_id = {quote(run_id)}"))  # a retry of this run: no duplicates
            replace_rows(table, fixed, mine, f"run_id = {quote(run_id)}")
            if table.count_rows() >= min_rows_for_index and not table.list_indices():
                from lancedb.index import IvfPq

                table.create_index("vector", config=IvfPq(distance_type="cosine", num_sub_vectors=max(1, dim // 16)))
        # a recognizer of another size leaves nothing behind in the other vectors_<dim> tables
        for name in set(self.db.list_tables().tables):
            if name.startswith("vectors_") and name.removeprefix("vectors_").isdigit() and int(name[8:]) not in by_dim:
                stale = self.db.open_table(name)
                retrying(lambda t=stale: t.delete(f"episode_id = {quote(episode_id)}"))

    def nearest(self, vector: list[float], k: int = 10, owner: str | None = None) -> list[dict[str, Any]]:
        """The k stored embeddings closest (cosine) to ``vector``, across episodes."""
        table = self.vector_table(len(vector))
        q = table.search(list(map(float, vector))).distance_type("cosine").limit(k)
        if owner:
            q = q.where(f"owner = {quote(owner)}")
        return q.to_arrow().to_pylist()

    def read(self, name: str, episode_id: str | None = None) -> pa.Table:
        """The current rows of a table (one episode, or every episode)."""
        try:
            table = self.table(name)
            if episode_id is None:
                return self.only_current(name, table.to_arrow())
            return table.search().where(self._visible(name, episode_id)).limit(None).to_arrow()
        except KeyError:
            raise
        except Exception as e:  # a table with missing files, a server gone: one line
            raise explain(e, self.uri) from None

    def count(self, name: str, episode_id: str | None = None) -> int:
        try:
            table = self.table(name)
            if episode_id is None:
                return self.only_current(name, table.to_arrow()).num_rows
            return int(table.count_rows(self._visible(name, episode_id)))
        except KeyError:
            raise
        except Exception as e:
            raise explain(e, self.uri) from None

    def only_current(self, name: str, rows: pa.Table) -> pa.Table:
        """Drop rows of runs staged but never made current (a crash mid-save), across episodes."""
        current = self.current_runs()
        if name == "assignment_history" or not current or "run_id" not in rows.column_names:
            return rows
        keep = [current.get(e, r) == r for e, r in zip(rows.column("episode_id").to_pylist(), rows.column("run_id").to_pylist())]
        return rows.filter(pa.array(keep, pa.bool_()))


def open_results(settings: Settings) -> ResultStore:
    """The result database under the configured storage location (<root>/lancedb)."""
    loc = location(settings.storage, settings.storage_root())
    loc.check_reachable()  # one bounded request first: LanceDB's own retries wait ~7x storage.timeout_s
    return ResultStore(loc.child(DB_DIR), loc.lance_options())
