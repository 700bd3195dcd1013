"""Run results in LanceDB: one table per record type, rows keyed by episode and run."""

from __future__ import annotations

from typing import Any

import lancedb
import pyarrow as pa

from screenalytics.config import Settings
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

SCHEMA_VERSION = 4  # 1: vision; 2: audio tables, mouth_motion; 3: review ids, assignment_history; 4: assignment confidence
META = "_meta"

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
    table.add(rows)
    table.delete(f"({where}) AND NOT ({keep})")


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
            row = pa.table({"schema_version": [SCHEMA_VERSION]})
            if META in self._names:
                self.db.open_table(META).add(row)
            else:
                self.db.create_table(META, row)
                self._names.add(META)
        return SCHEMA_VERSION

    def table(self, name: str) -> Any:
        if name not in TABLES:
            raise KeyError(name)
        schema = TABLES[name].schema
        if name not in self._names:
            table = self.db.create_table(name, schema=schema, exist_ok=True)
            self._names.add(name)
            return table
        table = self.db.open_table(name)
        missing = [f for f in schema if f.name not in table.schema.names]
        if missing:  # a table written by an older version: add the new columns (empty for old rows)
            table.add_columns(missing)
        return table

    def save_run(self, episode_id: str, run_id: str, tables: dict[str, pa.Table]) -> None:
        """Add the new run's rows, then drop the episode's older rows.

        New rows land before old ones go, so a failure part-way never leaves an episode with
        fewer rows than before; a retry cleans up whatever the failed attempt left.
        """
        try:
            self.migrate()
            for name, rows in tables.items():
                replace_rows(self.table(name), rows, f"episode_id = {quote(episode_id)}", f"run_id = {quote(run_id)}")
        except Exception as e:
            raise explain(e, self.uri) from None

    # -- vector search -----------------------------------------------------------------------
    def open_or_create(self, name: str, schema: pa.Schema) -> Any:
        """A table that other modules own the schema of (catalog, vector tables)."""
        if name not in self._names:
            self.db.create_table(name, schema=schema, exist_ok=True)
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
            table.delete(f"{mine} AND run_id = {quote(run_id)}")  # a retry of this run: no duplicates
            replace_rows(table, fixed, mine, f"run_id = {quote(run_id)}")
            if table.count_rows() >= min_rows_for_index and not table.list_indices():
                from lancedb.index import IvfPq

                table.create_index("vector", config=IvfPq(distance_type="cosine", num_sub_vectors=max(1, dim // 16)))

    def nearest(self, vector: list[float], k: int = 10, owner: str | None = None) -> list[dict[str, Any]]:
        """The k stored embeddings closest (cosine) to ``vector``, across episodes."""
        table = self.vector_table(len(vector))
        q = table.search(list(map(float, vector))).distance_type("cosine").limit(k)
        if owner:
            q = q.where(f"owner = {quote(owner)}")
        return q.to_arrow().to_pylist()

    def read(self, name: str, episode_id: str | None = None) -> pa.Table:
        table = self.table(name)
        if episode_id is None:
            return table.to_arrow()
        return table.search().where(f"episode_id = {quote(episode_id)}").limit(None).to_arrow()

    def count(self, name: str, episode_id: str | None = None) -> int:
        table = self.table(name)
        return int(table.count_rows(f"episode_id = {quote(episode_id)}" if episode_id else None))


def open_results(settings: Settings) -> ResultStore:
    """The result database under the configured storage location (<root>/lancedb)."""
    loc = location(settings.storage, settings.storage_root())
    return ResultStore(loc.child(DB_DIR), loc.lance_options())
