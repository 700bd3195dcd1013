"""Job records: one JSON object per job under ``jobs/`` in the artifact store.

A job's record is the only thing a server, a worker and a client share, so a job outlives the
server that started it (a restart finds it, a worker keeps writing to it) and works the same on
a folder or S3. Records are small and rewritten whole; the worker is the only writer of progress,
a ``cancel_job`` call only sets ``cancel_requested``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from screenalytics.errors import InputError
from screenalytics.stores.artifacts import ArtifactStore

PREFIX = "jobs/"
TERMINAL = ("done", "failed", "cancelled")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job_id() -> str:
    return "job-" + uuid.uuid4().hex[:12]


class JobStore:
    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    @staticmethod
    def key(job_id: str) -> str:
        if not job_id.startswith("job-") or not job_id[4:].isalnum():
            raise InputError(f"not a job id: {job_id!r} (job ids look like job-1a2b3c4d5e6f)")
        return f"{PREFIX}{job_id}.json"

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self.artifacts.create(self.key(record["job_id"]), json.dumps(record).encode()):
            raise InputError(f"job {record['job_id']!r} exists already")
        return record

    def get(self, job_id: str) -> dict[str, Any]:
        key = self.key(job_id)
        if not self.artifacts.exists(key):
            raise InputError(f"unknown job {job_id!r} (list_jobs shows the known ones)")
        return json.loads(self.artifacts.get(key))

    def put(self, record: dict[str, Any]) -> dict[str, Any]:
        record["updated_at"] = now_iso()
        self.artifacts.put(self.key(record["job_id"]), json.dumps(record).encode())
        return record

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        record = self.get(job_id)
        record.update(changes)
        return self.put(record)

    def all(self) -> list[dict[str, Any]]:
        """Every job, newest first."""
        records = []
        for key in self.artifacts.list(PREFIX):
            if key.endswith(".json"):
                try:
                    records.append(json.loads(self.artifacts.get(key)))
                except (ValueError, InputError):
                    continue  # half-written just now
        return sorted(records, key=lambda r: r.get("created_at", ""), reverse=True)
