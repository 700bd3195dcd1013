"""`show`, `episode`, `person`, `screen-time`, `status` and `export`: the catalog and stored results."""

from __future__ import annotations

from pathlib import Path

import click

from screenalytics.cli.app import cli, print_json, print_rows, safe_id, with_service
from screenalytics.registry.plugins import implementations
from screenalytics.service import Service


@cli.group()
def show() -> None:
    """Shows in the catalog."""


@show.command("add")
@click.argument("show_id", callback=safe_id)
@click.option("--title", default="")
@with_service
def show_add(service: Service, show_id: str, title: str) -> None:
    """Add or update a show."""
    click.echo(f"show {service.add_show(show_id, title).show_id}")


@show.command("season")
@click.argument("show_id", callback=safe_id)
@click.argument("season", type=click.IntRange(min=0))
@click.option("--title", default=None)
@with_service
def show_season(service: Service, show_id: str, season: int, title: str | None) -> None:
    """Add or rename a season of a show."""
    s = service.add_season(show_id, season, title)
    click.echo(f"{s.show_id} season {s.season}")


@show.command("list")
@with_service
def show_list(service: Service) -> None:
    """List shows."""
    print_rows(service.list_shows(), ["show_id", "title"])


@cli.group()
def episode() -> None:
    """Episodes in the catalog (their id is what `run --episode-id` attaches results to)."""


@episode.command("add")
@click.argument("episode_id", callback=safe_id)
@click.option("--show", "show_id", required=True, callback=safe_id)
@click.option("--season", type=click.IntRange(min=0), required=True)
@click.option("--number", type=click.IntRange(min=0), required=True)
@click.option("--title", default=None)
@click.option("--air-date", default=None, help="YYYY-MM-DD")
@with_service
def episode_add(
    service: Service, episode_id: str, show_id: str, season: int, number: int, title: str | None, air_date: str | None
) -> None:
    """Add or update an episode of a show."""
    click.echo(f"episode {service.add_episode(episode_id, show_id, season, number, title, air_date).episode_id}")


@episode.command("list")
@click.option("--show", "show_id", default=None, callback=safe_id)
@with_service
def episode_list(service: Service, show_id: str | None) -> None:
    """List episodes, optionally of one show."""
    print_rows(service.list_episodes(show_id), ["episode_id", "show_id", "season", "number", "title", "air_date"])


@episode.command("status")
@click.argument("episode_id", callback=safe_id)
@with_service
def episode_status(service: Service, episode_id: str) -> None:
    """What the store holds for an episode: its run id, row counts and published run.json (JSON)."""
    print_json(service.run_status(episode_id))


@cli.command("screen-time")
@click.argument("episode_id", callback=safe_id)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_service
def screen_time(service: Service, episode_id: str, as_json: bool) -> None:
    """The stored screen time of an episode (after review edits)."""
    rows = service.screen_time(episode_id)
    if as_json:
        print_json(rows)
    else:
        print_rows(rows, ["person_id", "visual_s", "speaking_s", "both_s", "confidence"], title=f"Screen time: {episode_id}")


class FormatOption(click.Option):
    """--format, whose help lists the exporters installed now (read only when help is shown)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = f"Exporters, comma-separated or repeated; installed: {', '.join(sorted(implementations('exporter')))}."
        return super().get_help_record(ctx)


@cli.command("export")
@click.argument("episode_id", callback=safe_id)
@click.option("--format", "formats", cls=FormatOption, multiple=True, default=["csv,json"], show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder to write into.")
@with_service
def export(service: Service, episode_id: str, formats: tuple[str, ...], out_dir: Path) -> None:
    """Export a stored episode (review edits included) with the named exporters."""
    names = list(dict.fromkeys(f.strip() for value in formats for f in value.split(",") if f.strip()))
    for path in service.export(episode_id, names, out_dir).files:
        click.echo(str(path))


@cli.group()
def person() -> None:
    """People in the catalog: cast membership and featured thumbnails."""


@person.command("add")
@click.argument("person_id")
@click.option("--name", default="")
@with_service
def person_add(service: Service, person_id: str, name: str) -> None:
    """Add or update a person (use the facebank's person_id)."""
    click.echo(f"person {service.add_person(person_id, name).person_id}")


@person.command("list")
@with_service
def person_list(service: Service) -> None:
    """List people with their featured thumbnail."""
    print_rows(service.list_people(), ["person_id", "name", "featured"])


@person.command("cast")
@click.argument("person_id")
@click.option("--show", "show_id", required=True, callback=safe_id)
@click.option("--role", default="")
@with_service
def person_cast(service: Service, person_id: str, show_id: str, role: str) -> None:
    """Make PERSON_ID a cast member of a show."""
    member = service.add_cast(person_id, show_id, role)
    click.echo(f"{member.person_id} in {member.show_id}")


@person.command("feature")
@click.argument("person_id")
@click.argument("key")
@with_service
def person_feature(service: Service, person_id: str, key: str) -> None:
    """Choose a person's thumbnail by artifact KEY (overrides the automatic choice)."""
    service.feature(person_id, key)
    click.echo(f"{person_id}: {key}")
