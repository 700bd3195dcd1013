"""The catalog on a folder and on S3: shows, episodes, people, cast, thumbnails, shots."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import FACES, make_facebank
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.pipeline import Pipeline, run_episode
from screenalytics.stores import open_artifacts, open_results
from screenalytics.stores.catalog import Catalog, CatalogError
from synth import ShotSpec, compose


def test_catalog_crud_and_errors(env):
    cat = Catalog(open_results(load_settings()))
    cat.add_show("got", "Game of Thrones")
    cat.add_episode("got-s01e01", "got", 1, 1, "Winter Is Coming", "2011-04-17")
    cat.add_episode("got-s01e01", "got", 1, 1, "Winter Is Coming (pilot)")  # update, not a duplicate
    assert [e["title"] for e in cat.list("episodes")] == ["Winter Is Coming (pilot)"]
    assert cat.get("episodes", episode_id="got-s01e01")["air_date"] == "2011-04-17"
    assert cat.list("seasons")[0]["season"] == 1
    cat.add_person("kit", "Kit Harington")
    cat.add_cast("got", "kit", "Jon Snow")
    assert cat.show_of("got-s01e01") == ("got", "S01E01") and cat.show_of("other") == ("unsorted", "other")
    with pytest.raises(CatalogError, match="unknown show 'nope'"):
        cat.add_episode("x", "nope", 1, 1)
    with pytest.raises(CatalogError, match="unknown person 'ghost'"):
        cat.add_cast("got", "ghost")
    assert cat.feature("kit", "chips/a.jpg", 0.5)
    assert not cat.feature("kit", "chips/b.jpg", 0.4)  # a worse automatic choice does not win
    assert cat.feature("kit", "chips/c.jpg", 0.1, manual=True)
    assert not cat.feature("kit", "chips/d.jpg", 0.9)  # a manual choice stays
    assert cat.get("person_featured", person_id="kit")["key"] == "chips/c.jpg"


def test_a_run_attached_to_a_catalogued_episode(env, pipeline, tmp_path):
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "kit_harington_1.jpeg", 0.8, ["kit"], (30, 30, 90)), ShotSpec(None, 0.4)])
    bank = make_facebank(tmp_path / "fb", {"kit": ["kit_harington_2.jpeg"]})
    runner = CliRunner()
    for args in (
        ["show", "add", "got", "--title", "Game of Thrones"],
        ["episode", "add", "ep1", "--show", "got", "--season", "1", "--number", "2"],
        ["person", "add", "kit", "--name", "Kit Harington"],
        ["person", "cast", "kit", "--show", "got"],
    ):
        res = runner.invoke(cli, args, env=env)
        assert res.exit_code == 0, res.output
    settings = load_settings(audio={"enabled": False}, storage={"archive_media": True})
    run_episode(Pipeline(settings), video, bank, tmp_path / "out", episode_id="ep1")
    cat = Catalog(open_results(settings))
    featured = cat.get("person_featured", person_id="kit")
    assert featured["source"] == "auto" and featured["key"].startswith("chips/got/S01E02/")
    assert open_artifacts(settings).get(featured["key"])[:2] == b"\xff\xd8"  # a JPEG
    assert "reports/got/S01E02/screen_time.json" in open_artifacts(settings).list("reports/")
    assert [s["shot_id"] for s in cat.list("shots")] == [0, 1]
    art = open_artifacts(settings)
    frames = art.list("frames/got/S01E02/")
    assert [k.split("/")[3] for k in frames] == ["0", "1"]  # one frame per shot
    assert art.get("videos/got/S01E02/episode.mp4") == video.read_bytes()
    assert {a["kind"] for a in cat.list("media_assets")} == {"source_video", "video"}  # the clip has no audio
    assert runner.invoke(cli, ["show", "season", "got", "1", "--title", "The Kingsroad"], env=env).exit_code == 0
    assert cat.get("seasons", show_id="got", season=1)["title"] == "The Kingsroad"
    assert runner.invoke(cli, ["show", "season", "nope", "1"], env=env).exit_code == 1
    listing = runner.invoke(cli, ["person", "list"], env=env).output
    assert "Kit Harington" in listing and "chips/got/S01E02" in listing
    bad = runner.invoke(cli, ["person", "feature", "kit", "chips/none.jpg"], env=env)
    assert bad.exit_code == 1 and "no artifact" in bad.output
