"""The catalog: shows, seasons, episodes, people, cast membership, featured thumbnails, media
assets and shots, in the same LanceDB as the results."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from screenalytics.errors import ScreenalyticsError
from screenalytics.stores.lance import ResultStore, quote


class CatalogError(ScreenalyticsError):
    """Unknown or conflicting catalog ids."""


_s, _i, _f = pa.string(), pa.int64(), pa.float64()
SCHEMAS: dict[str, pa.Schema] = {
    "shows": pa.schema([("show_id", _s), ("title", _s), ("meta", _s)]),
    "seasons": pa.schema([("show_id", _s), ("season", _i), ("title", _s), ("meta", _s)]),
    "episodes": pa.schema(
        [("episode_id", _s), ("show_id", _s), ("season", _i), ("number", _i), ("title", _s), ("air_date", _s), ("meta", _s)]
    ),
    "people": pa.schema([("person_id", _s), ("name", _s), ("meta", _s)]),
    "cast_membership": pa.schema([("show_id", _s), ("person_id", _s), ("role", _s)]),
    "person_featured": pa.schema([("person_id", _s), ("key", _s), ("source", _s), ("quality", _f), ("episode_id", _s)]),
    "media_assets": pa.schema([("episode_id", _s), ("kind", _s), ("key", _s), ("bytes", _i)]),
    "shots": pa.schema([("episode_id", _s), ("shot_id", _i), ("start_t", _f), ("end_t", _f)]),
}
KEYS = {
    "shows": ("show_id",),
    "seasons": ("show_id", "season"),
    "episodes": ("episode_id",),
    "people": ("person_id",),
    "cast_membership": ("show_id", "person_id"),
    "person_featured": ("person_id",),
    "media_assets": ("episode_id", "kind"),
    "shots": ("episode_id", "shot_id"),
}


def episode_code(season: int | None, number: int | None) -> str:
    """S01E02 style code, for the artifact layout."""
    return f"S{season or 0:02d}E{number or 0:02d}"


class Catalog:
    def __init__(self, results: ResultStore) -> None:
        self.results = results

    def table(self, name: str) -> Any:
        return self.results.open_or_create(name, SCHEMAS[name])

    def _where(self, name: str, row: dict[str, Any]) -> str:
        parts = []
        for k in KEYS[name]:
            v = row[k]
            parts.append(f"{k} = {quote(v) if isinstance(v, str) else int(v)}")
        return " AND ".join(parts)

    def upsert(self, name: str, /, **row: Any) -> dict[str, Any]:
        """Insert the row, or update the one with these key values (None leaves a field as it is)."""
        schema = SCHEMAS[name]
        full = {f.name: row.get(f.name) for f in schema}
        if isinstance(full.get("meta"), dict):
            full["meta"] = json.dumps(full["meta"])
        existing = self.get(name, **{k: full[k] for k in KEYS[name]})
        if existing:
            full = {**existing, **{k: v for k, v in full.items() if v is not None}}
        table = self.table(name)
        new = pa.table({k: [full[k]] for k in schema.names}, schema=schema)
        table.merge_insert(list(KEYS[name])).when_matched_update_all().when_not_matched_insert_all().execute(new)
        return full

    def replace_episode_rows(self, name: str, episode_id: str, rows: list[dict[str, Any]]) -> None:
        """The episode's rows of a per-episode table become exactly ``rows``, in one atomic commit."""
        schema = SCHEMAS[name]
        new = pa.table({k: [episode_id if k == "episode_id" else r.get(k) for r in rows] for k in schema.names}, schema=schema)
        (
            self.table(name)
            .merge_insert(list(KEYS[name]))
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"episode_id = {quote(episode_id)}")
            .execute(new)
        )

    def _absent(self, name: str) -> bool:
        """Never created (here or, since this store was opened, by another process): reads find
        nothing without creating it, so a read-only store stays readable."""
        if name in self.results._names:
            return False
        if name in set(self.results.db.list_tables().tables):
            self.results._names.add(name)
            return False
        return True

    def get(self, name: str, /, **key: Any) -> dict[str, Any] | None:
        if self._absent(name):
            return None
        rows = self.table(name).search().where(self._where(name, key)).limit(None).to_arrow().to_pylist()
        return rows[0] if rows else None

    def list(self, name: str, where: str | None = None) -> list[dict[str, Any]]:
        if self._absent(name):
            return []
        q = self.table(name).search()
        if where:
            q = q.where(where)
        rows = q.limit(None).to_arrow().to_pylist()
        return sorted(rows, key=lambda r: tuple(str(r[k]) for k in KEYS[name]))

    def delete(self, name: str, /, **key: Any) -> None:
        if self.get(name, **key) is None:
            raise CatalogError(f"unknown {name[:-1] if name.endswith('s') else name} {key}")
        self.table(name).delete(self._where(name, key))

    # -- the domain ------------------------------------------------------------------------
    def add_show(self, show_id: str, title: str = "", meta: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.upsert("shows", show_id=show_id, title=title or show_id, meta=meta or {})

    def add_season(self, show_id: str, season: int, title: str | None = None) -> dict[str, Any]:
        """Add a season of a known show, or rename it (a None title keeps the current one)."""
        if self.get("shows", show_id=show_id) is None:
            raise CatalogError(f"unknown show {show_id!r}: add it first (`screenalytics show add {show_id}`)")
        current = self.get("seasons", show_id=show_id, season=season)
        title = title or (current["title"] if current else f"Season {season}")
        return self.upsert("seasons", show_id=show_id, season=season, title=title, meta="{}")

    def add_episode(
        self,
        episode_id: str,
        show_id: str,
        season: int,
        number: int,
        title: str | None = None,
        air_date: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add an episode, or update the fields given (None leaves a field as it is)."""
        if self.get("seasons", show_id=show_id, season=season) is None:
            self.add_season(show_id, season)
        return self.upsert(
            "episodes",
            episode_id=episode_id,
            show_id=show_id,
            season=season,
            number=number,
            title=title,
            air_date=air_date,
            meta=meta,
        )

    def add_person(self, person_id: str, name: str = "", meta: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.upsert("people", person_id=person_id, name=name or person_id, meta=meta or {})

    def add_cast(self, show_id: str, person_id: str, role: str = "") -> dict[str, Any]:
        for kind, key in (("shows", {"show_id": show_id}), ("people", {"person_id": person_id})):
            if self.get(kind, **key) is None:
                raise CatalogError(f"unknown {kind[:-1] if kind == 'shows' else 'person'} {next(iter(key.values()))!r}")
        return self.upsert("cast_membership", show_id=show_id, person_id=person_id, role=role)

    def feature(self, person_id: str, key: str, quality: float, episode_id: str = "", manual: bool = False) -> bool:
        """Set a person's thumbnail; an automatic choice never replaces a manual one, nor a better one."""
        current = self.get("person_featured", person_id=person_id)
        if not manual and current and (current["source"] == "manual" or current["quality"] >= quality):
            return False
        self.upsert(
            "person_featured",
            person_id=person_id,
            key=key,
            source="manual" if manual else "auto",
            quality=quality,
            episode_id=episode_id,
        )
        return True

    def show_of(self, episode_id: str) -> tuple[str, str]:
        """(show_id, SxxEyy) for the artifact layout; ('unsorted', episode_id) when not catalogued."""
        ep = self.get("episodes", episode_id=episode_id)
        return (ep["show_id"], episode_code(ep["season"], ep["number"])) if ep else ("unsorted", episode_id)
