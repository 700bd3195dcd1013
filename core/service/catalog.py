"""Shows, seasons, episodes, people, cast and featured thumbnails."""

from __future__ import annotations

from screenalytics.service.base import ServiceBase
from screenalytics.service.types import CastMember, Episode, Person, Season, Show
from screenalytics.stores.catalog import CatalogError
from screenalytics.stores.lance import quote


class CatalogOps(ServiceBase):
    def add_show(self, show_id: str, title: str = "") -> Show:
        row = self.catalog.add_show(show_id, title)
        return Show(show_id=row["show_id"], title=row["title"])

    def add_season(self, show_id: str, season: int, title: str | None = None) -> Season:
        row = self.catalog.add_season(show_id, season, title)
        return Season(show_id=row["show_id"], season=row["season"], title=row["title"])

    def list_shows(self) -> list[Show]:
        return [Show(show_id=r["show_id"], title=r["title"]) for r in self.catalog.list("shows")]

    def add_episode(
        self, episode_id: str, show_id: str, season: int, number: int, title: str | None = None, air_date: str | None = None
    ) -> Episode:
        return _episode(self.catalog.add_episode(episode_id, show_id, season, number, title, air_date))

    def list_episodes(self, show_id: str | None = None) -> list[Episode]:
        return [_episode(r) for r in self.catalog.list("episodes", f"show_id = {quote(show_id)}" if show_id else None)]

    def add_person(self, person_id: str, name: str = "") -> Person:
        row = self.catalog.add_person(person_id, name)
        return Person(person_id=row["person_id"], name=row["name"])

    def list_people(self) -> list[Person]:
        """People with their featured thumbnail (an artifact key)."""
        featured = {f["person_id"]: f["key"] for f in self.catalog.list("person_featured")}
        return [
            Person(person_id=p["person_id"], name=p["name"], featured=featured.get(p["person_id"], ""))
            for p in self.catalog.list("people")
        ]

    def add_cast(self, person_id: str, show_id: str, role: str = "") -> CastMember:
        row = self.catalog.add_cast(show_id, person_id, role)
        return CastMember(show_id=row["show_id"], person_id=row["person_id"], role=row["role"])

    def feature(self, person_id: str, key: str) -> Person:
        """Choose a person's thumbnail by artifact key (overrides the automatic choice)."""
        if not self.artifacts.exists(key):
            raise CatalogError(f"no artifact {key!r} (see `screenalytics storage ls chips/`)")
        self.catalog.feature(person_id, key, 1.0, manual=True)
        return next(
            (p for p in self.list_people() if p.person_id == person_id), Person(person_id=person_id, name="", featured=key)
        )


def _episode(r: dict) -> Episode:  # type: ignore[type-arg]
    return Episode(
        episode_id=r["episode_id"],
        show_id=r["show_id"],
        season=r["season"],
        number=r["number"],
        title=r.get("title"),
        air_date=r.get("air_date"),
    )
