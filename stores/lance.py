"""Run results in LanceDB: one table per record type, rows keyed by episode and run."""

from __future__ import annotations

from typing import Any

import lancedb
import pyarrow as pa

from screenalytics.data import (
    Assignment,
    AVLink,
    Detection,
    FaceEmbedding,
    ScreenTime,
    SpeechSegment,
    Track,
    TranscriptWord,
)
from screenalytics.errors import ScreenalyticsError

TABLES: dict[str, Any] = {
    "detections": Detection,
    "tracks": Track,
    "embeddings": FaceEmbedding,
    "assignments": Assignment,
    "screen_time": ScreenTime,
    "speech_segments": SpeechSegment,
    "transcripts": TranscriptWord,
    "av_links": AVLink,
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ResultStore:
    """Episode results; re-running an episode replaces its rows instead of adding to them."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri = uri
        try:
            self.db = lancedb.connect(uri, storage_options=storage_options)
        except Exception as e:  # lancedb raises several types for a bad location
            raise ScreenalyticsError(f"cannot open the result store at {uri}: {e}") from None

    def _table(self, name: str) -> Any:
        if name not in TABLES:
            raise KeyError(name)
        schema = TABLES[name].schema
        if name not in self.db.list_tables().tables:
            return self.db.create_table(name, schema=schema)
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
        for name, table in tables.items():
            self._table(name).add(table)
        for name in tables:
            self._table(name).delete(f"episode_id = {_quote(episode_id)} AND run_id != {_quote(run_id)}")

    def read(self, name: str, episode_id: str | None = None) -> pa.Table:
        table = self._table(name)
        if episode_id is None:
            return table.to_arrow()
        return table.search().where(f"episode_id = {_quote(episode_id)}").limit(None).to_arrow()

    def count(self, name: str, episode_id: str | None = None) -> int:
        table = self._table(name)
        return int(table.count_rows(f"episode_id = {_quote(episode_id)}" if episode_id else None))
