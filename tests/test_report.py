"""The self-contained episode report: data and rendering on a run built by hand (fast), then the
real Hamilton clip opened in a real headless Chromium that may fetch nothing (slow)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from screenalytics.config import load_settings
from screenalytics.errors import ConfigError
from screenalytics.model.media import VideoInfo
from screenalytics.model.records import Assignment, AVLink, Detection, ScreenTime, SpeechSegment, Track
from screenalytics.model.run import RunContext, RunResult
from screenalytics.registry.plugins import get_implementation, new_exporter
from screenalytics.report import ReportExtras, ReportOptions, build_report, render, write_report
from screenalytics.report.data import run_queue
from screenalytics.report.render import page
from screenalytics.stages.screentime import union_length

ODD = 'd\'arcy, "jr"'  # a person id that needs quoting in CSV and escaping in HTML
PICK = ("person_id", "visual_s", "speaking_s", "both_s", "confidence")  # the screen_time.json contract
SCRIPTY = "Hello there, <b>friends</b> </script><!-- & more"


def _detections(track: int, start: float, end: float, shot: int, first_id: int) -> list[Detection]:
    n = round((end - start) / 0.2)
    return [
        Detection(
            int((start + 0.2 * i) * 25),
            round(start + 0.2 * i, 3),
            0.2,
            shot,
            10,
            10,
            50,
            50,
            0.9,
            [0.0] * 10,
            track,
            0.5,
            0.0,
            first_id + i,
        )  # fmt: skip
        for i in range(n)
    ]


def synthetic_result(turns: int = 3) -> RunResult:
    """A 20 s episode: ana (tracks 1 and 4, one frame of track 4 relabelled ben by hand), ben (track 2),
    an unsure unknown_1 (track 3) under a voice the voice bank calls cara, and a voice tied to nobody."""
    settings = load_settings()
    video = VideoInfo(Path("/videos/ep.mp4"), 640, 360, 25.0, 20.0, 500, True)
    detections = _detections(1, 0, 5, 0, 0) + _detections(2, 4, 8, 0, 100) + _detections(3, 10, 12, 1, 200)
    detections += _detections(4, 14, 16, 2, 300)
    tracks = [
        Track(1, 0, 0.0, 5.0, 25, 0.9, "ana", 0.9),
        Track(2, 0, 4.0, 8.0, 20, 0.9, "ben", 0.8),
        Track(3, 1, 10.0, 12.0, 10, 0.7, "unknown_1", 0.2),
        Track(4, 2, 14.0, 16.0, 10, 0.9, "ana", 0.7),
    ]
    assignments = [
        Assignment(1, 0.0, 5.0, "ana", 0.6, 0.2, "facebank", 0.35, assignment_id="a0", confidence=0.9),
        Assignment(2, 4.0, 8.0, "ben", 0.5, 0.2, "facebank", 0.35, assignment_id="a1", confidence=0.8),
        Assignment(3, 10.0, 12.0, "unknown_1", 0.3, 0.0, "cluster", 0.6, assignment_id="a2", confidence=0.2),
        Assignment(4, 14.0, 16.0, "ana", 0.5, 0.1, "facebank", 0.35, assignment_id="a3", confidence=0.7),
        Assignment(4, 15.0, 15.2, "ben", 1.0, 0.0, "manual", 0.0, assignment_id="m1"),  # a frame-level label
    ]
    screen_time = [
        ScreenTime("ana", 6.8, 3.0, 3.0, 0.854),
        ScreenTime("ben", 4.2, 2.0, 1.0, 0.81),
        ScreenTime("unknown_1", 2.0, 0.0, 0.0, 0.2),
        ScreenTime("speaker_1", 0.0, 1.0, 0.0, 0.0),
        ScreenTime(ODD, 0.0),
    ]
    lines = [(0.0, 3.0, "SPEAKER_00", "ana", "voicebank", SCRIPTY), (7.0, 9.0, "SPEAKER_01", "ben", "cooccurrence", "I am Ben")]
    lines += [(10.5 + 0.01 * i, 11.5, "SPEAKER_02", "speaker_1", "unlinked", "") for i in range(turns - 2)]
    speech = [SpeechSegment(i, s, e, spk, who, how, 0.5, False, text) for i, (s, e, spk, who, how, text) in enumerate(lines)]
    links = [
        AVLink(0, 0.0, 3.0, "SPEAKER_00", "ana", 1, "voicebank", 0.8, 3.0, 0.0),
        AVLink(2, 10.5, 11.5, "SPEAKER_02", "cara", -1, "voicebank", 0.7, 0.0, 1.0),
    ]
    rng = np.random.default_rng(7)  # noise: chips that compress badly, so the size budget bites
    noise = [cv2.imencode(".jpg", rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))[1].tobytes() for _ in range(12)]
    chips = {t: [(0.9 - n / 10, noise[3 * (t - 1) + n]) for n in range(3)] for t in (1, 2, 3, 4)}
    ctx = RunContext(settings, video, "ep", "run123", None)  # type: ignore[arg-type]  # the report reads no facebank
    timings = {"detect": 2.5, "decode": 1.0, "identify": 0.25}
    return RunResult("ep", "run123", video, detections, tracks, [], assignments, screen_time, [9.0, 13.0], ["bad.jpg"], 500,
                     timings, ctx, "ok", speech, [], links, chips)  # fmt: skip


def embedded(html: bytes | str) -> dict[str, Any]:
    text = html.decode() if isinstance(html, bytes) else html
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert found, "no embedded data"
    return json.loads(found.group(1))


# -- fast: the data and the page -------------------------------------------------------------------


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = write_report(build_report(synthetic_result()), tmp_path).read_bytes()
    again = render(build_report(synthetic_result()))
    assert first == again
    assert b"<img" in first and first.count(b"data:image/jpeg;base64,") >= 4


def test_the_embedded_json_is_the_run(tmp_path: Path) -> None:
    result = synthetic_result()
    report = build_report(result)
    data = embedded(render(report))
    assert data == json.loads(json.dumps(report.data))
    assert [{k: p[k] for k in PICK} for p in data["people"]] == [{k: getattr(r, k) for k in PICK} for r in result.screen_time]
    people = {p["person_id"]: p for p in data["people"]}
    for p in people.values():  # the intervals drawn add up to the totals
        assert union_length(map(tuple, p["visual"])) == pytest.approx(p["visual_s"])
        assert union_length(map(tuple, p["speaking"])) == pytest.approx(p["speaking_s"])
        assert union_length(map(tuple, p["both"])) == pytest.approx(p["both_s"])
    assert [15.0, 15.2] in people["ben"]["visual"]  # the frame-level label beats its track's
    assert people["ana"]["visual"] == [[0.0, 5.0], [14.0, 15.0], [15.2, 16.0]]
    assert people["ana"]["share"] == 0.34 and people["ana"]["thumbnail"] == "chip:1:0" and people["ana"]["chips"] == ["chip:4:0"]
    assert data["episode"] == {
        "episode_id": "ep",
        "run_id": "run123",
        "video": "ep.mp4",
        "duration_s": 20.0,
        "frames_analysed": 500,
        "shots": 3,
        "cut_times": [9.0, 13.0],
        "audio": "ok",
    }
    assert [t["text"] for t in data["speech"]["turns"]][:2] == [SCRIPTY, "I am Ben"]
    run = data["run"]
    assert list(run["timings_s"]) == ["decode", "detect", "identify"]  # pipeline order
    assert re.fullmatch(r"[0-9a-f]{64}", run["config_sha256"]) and run["models"]["detector"].startswith("yunet")
    assert run["providers"] and run["skipped_photos"] == ["bad.jpg"]


def test_the_queue_is_the_review_rule() -> None:
    result = synthetic_result()
    data = build_report(result).data
    [row] = data["queue"]["tracks"]  # track 4 carries a manual label: reviewed, so left out
    assert row == {
        "track_id": 3,
        "person_id": "unknown_1",
        "confidence": 0.2,
        "seconds": 2.0,
        "reasons": ["confidence 0.20 < 0.50", "voice of cara over a face labelled unknown_1"],
        "chips": ["chip:3:0", "chip:3:1"],
    }
    assert run_queue(result, 0.0)[0]["reasons"] == ["voice of cara over a face labelled unknown_1"]
    stored = [{"track_id": 2, "person_id": "ben", "confidence": 0.8, "seconds": 4.0, "reasons": ["from the store"]}]
    assert build_report(result, extras=ReportExtras(queue=stored)).data["queue"]["tracks"][0]["reasons"] == ["from the store"]


def test_nothing_points_outside_the_file() -> None:
    html = render(build_report(synthetic_result())).decode()
    assert "http:" not in html and "https:" not in html
    srcs = re.findall(r'\ssrc\s*=\s*"([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    assert all(h.startswith("#") for h in re.findall(r'\shref\s*=\s*"([^"]*)"', html))
    assert not re.search(r"""url\(\s*['"]?\s*(?!data:)""", html)
    assert not re.search(r"""(?:src|href|action|srcset)\s*=\s*['"]?\s*(?:[a-z][a-z0-9+.-]*:)?//""", html, re.I)
    assert "<link" not in html and "@import" not in html and "fetch(" not in html and "XMLHttpRequest" not in html
    # the transcript's markup is text: it neither ends the data element nor becomes a tag
    assert html.count("</script>") == 2 and "&lt;/script&gt;&lt;!--" in html and "<b>friends" not in html
    assert "d&#x27;arcy, &quot;jr&quot;" in html


def test_the_size_budget_drops_the_least_important_images_first() -> None:
    report = build_report(synthetic_result())
    tiers = {im.id: im.tier for im in report.images}
    assert tiers == {"chip:1:0": 0, "chip:2:0": 0, "chip:3:0": 0, "chip:3:1": 1, "chip:4:0": 2}
    full = render(report)
    assert render(report, ReportOptions(max_bytes=len(full))) == full
    # room for the thumbnails only: the face chip goes, then the queue chip
    thumbs = {im.id: im.jpeg for im in report.images if im.tier == 0}
    budget = len(page(report.data, thumbs, dropped=2))
    fitted = render(report, ReportOptions(max_bytes=budget))
    assert fitted == page(report.data, thumbs, dropped=2) and len(fitted) <= budget < len(full)
    assert b"2 left out to stay under the size budget" in fitted
    # no room for any image: all go, the text stays whole
    bare = render(report, ReportOptions(max_bytes=20_000))
    assert b"<img" not in bare and SCRIPTY.split()[0].encode() in bare and embedded(bare) == embedded(full)
    # and at most max_images are embedded in the first place, each no larger than image_max_side
    capped = build_report(synthetic_result(), ReportOptions(max_images=2, image_max_side=32))
    assert [im.id for im in capped.images] == ["chip:1:0", "chip:2:0"] and all(len(im.jpeg) < 4000 for im in capped.images)


def test_long_speech_is_listed_up_to_max_turns() -> None:
    report = build_report(synthetic_result(turns=40), ReportOptions(max_turns=5))
    assert report.data["speech"]["total"] == 40 and len(report.data["speech"]["turns"]) == 5
    assert b"Showing the first 5 of 40 turns." in render(report)


def test_the_html_exporter_takes_its_settings_from_plugins_html(tmp_path: Path) -> None:
    assert load_settings().screen_time.exporters == ["csv", "json", "html"]
    cls = get_implementation("exporter", "html")
    exporter = new_exporter(cls, load_settings(plugins={"html": {"max_turns": 1, "max_images": 0}}))
    [path] = exporter.export(synthetic_result(), tmp_path)
    assert path == tmp_path / "report.html"
    data = embedded(path.read_bytes())
    assert len(data["speech"]["turns"]) == 1 and b"<img" not in path.read_bytes()
    with pytest.raises(ConfigError, match="plugins.html.max_images"):
        load_settings(plugins={"html": {"max_images": -1}}).options_for(cls)


# -- slow: a real browser, that may fetch nothing ------------------------------------------------------

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def browse(path: Path) -> Iterator[Any]:
    """The report open in headless Chromium; fails on a request that leaves the file, a console error
    or a page error."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            context.route("**/*", guard)
            page = context.new_page()
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            yield page
        finally:
            browser.close()
    assert outside == [], f"requests outside the file: {outside}"
    assert errors == [], f"console or page errors: {errors}"


def table_rows(page: Any) -> list[dict[str, str]]:
    """The totals table as shown: person and the text of each cell, in the order shown."""
    return page.eval_on_selector_all(
        "#totals-table tbody tr",
        """rows => rows.map(r => ({person: r.dataset.person,
            cells: Array.from(r.cells).map(c => c.textContent.trim())}))""",
    )


def js_number(v: Any) -> str:
    """A number as JavaScript's String() writes it (4.0 -> '4')."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def expected_csv(data: dict[str, Any]) -> str:
    cols = ["person_id", "visual_s", "speaking_s", "both_s", "share", "confidence"]

    def cell(v: Any) -> str:
        s = js_number(v)
        return '"' + s.replace('"', '""') + '"' if re.search(r'[",\r\n]', s) else s

    return "".join(",".join(cell(p[c]) if p else c for c in cols) + "\r\n" for p in [None, *data["people"]])


@pytest.mark.slow
def test_in_a_browser_the_table_sorts_and_the_csv_downloads(tmp_path: Path) -> None:
    path = write_report(build_report(synthetic_result()), tmp_path)
    data = embedded(path.read_bytes())
    with browse(path) as page:
        assert [r["person"] for r in table_rows(page)] == [p["person_id"] for p in data["people"]]
        page.click("#totals-table th[data-key=person_id] button")
        assert [r["person"] for r in table_rows(page)] == sorted(p["person_id"] for p in data["people"])
        assert page.get_attribute("#totals-table th[data-key=person_id]", "aria-sort") == "ascending"
        page.click("#totals-table th[data-key=speaking_s] button")  # numbers: most first
        assert [r["person"] for r in table_rows(page)][:3] == ["ana", "ben", "speaker_1"]
        page.click("#totals-table th[data-key=speaking_s] button")
        assert [r["person"] for r in table_rows(page)][-1] == "ana"
        csv_text = expected_csv(data)
        assert page.evaluate("window.screenalyticsReport.csv()") == csv_text
        with page.expect_download() as download:
            page.click("#csv")
        assert download.value.suggested_filename == "ep_screen_time.csv"
        assert Path(download.value.path()).read_bytes().decode() == csv_text
        assert page.locator(".tl-row[data-person]").count() == 4  # ana, ben, unknown_1, speaker_1 (heard)


# -- slow: the Hamilton clip, from the run and from the store --------------------------------------------


@pytest.fixture(scope="module")
def hamilton(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    from click.testing import CliRunner

    from conftest import REPO, VIDEO
    from screenalytics.cli import cli

    out = tmp_path_factory.mktemp("hamilton-report")
    env = {"SCREENALYTICS_STORAGE__URI": str(tmp_path_factory.mktemp("store"))}
    facebank = REPO / "tests" / "data" / "hamilton_facebank.yaml"
    args = ["run", str(VIDEO), "--facebank", str(facebank), "--out", str(out), "--episode-id", "hamilton", "-q"]
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    return out, env


def check_totals(page: Any, rows: list[dict[str, Any]], data: dict[str, Any]) -> None:
    """The table shows screen_time.json's rows, digit for digit, and each one's share of the episode."""
    shown = {r["person"]: r["cells"] for r in table_rows(page)}
    duration = data["episode"]["duration_s"]
    share = {p["person_id"]: p["share"] for p in data["people"]}
    assert list(shown) == [r["person_id"] for r in rows]
    for r in rows:
        person, visual, speaking, both, shown_share, conf = shown[r["person_id"]]
        assert person == r["person_id"]
        assert [float(visual), float(speaking), float(both), float(conf)] == [
            r["visual_s"],
            r["speaking_s"],
            r["both_s"],
            round(r["confidence"], 3),
        ]
        assert shown_share == f"{100 * share[person]:.1f}%" and share[person] == pytest.approx(r["visual_s"] / duration, abs=1e-4)


@pytest.mark.slow
def test_hamilton_report_from_the_run_and_from_the_store(hamilton, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from screenalytics.cli import cli
    from screenalytics.stores import open_artifacts

    out, env = hamilton
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rows = json.loads((out / "screen_time.json").read_text())
    cast = {r["person_id"] for r in rows if r["visual_s"] > 0 or r["speaking_s"] > 0}
    report = out / "report.html"
    assert report.is_file()
    data = embedded(report.read_bytes())
    with browse(report) as page:
        assert page.locator(".tl-row[data-person]").count() == len(cast)
        assert {page.locator(".tl-row[data-person]").nth(i).get_attribute("data-person") for i in range(len(cast))} == cast
        check_totals(page, rows, data)
        assert page.locator(".lanes use").count() == len(cast)  # the cuts, drawn once, shown in each row
        assert page.get_attribute("path#cuts", "d").count("M") == len(data["episode"]["cut_times"]) == 3
        assert page.locator(".tl-row img.thumb").count() >= 2
        page.click("#totals-table th[data-key=person_id] button")
        assert [r["person"] for r in table_rows(page)] == sorted(r["person_id"] for r in rows)
        page.click("#totals-table th[data-key=visual_s] button")  # most first, ties by name
        by_visual = sorted(rows, key=lambda r: (-r["visual_s"], r["person_id"]))
        assert [r["person"] for r in table_rows(page)] == [r["person_id"] for r in by_visual]
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert data["run"]["timings_s"] and data["speech"]["turns"] and "charter" in report.read_text().lower()
    keys = open_artifacts(load_settings()).list("reports/unsorted/hamilton")
    assert "reports/unsorted/hamilton/report.html" in keys  # published with the run's reports

    # From the store: the same totals
    res = CliRunner().invoke(cli, ["report", "hamilton", "--out", str(tmp_path / "again")], env=env)
    assert res.exit_code == 0, res.output
    again = tmp_path / "again" / "report.html"
    assert res.output.strip() == str(again)
    stored = embedded(again.read_bytes())
    totals = [{k: p[k] for k in PICK} for p in stored["people"]]
    assert totals == [{k: p[k] for k in PICK} for p in data["people"]] == [{k: r[k] for k in PICK} for r in rows]
    assert stored["run"]["config_sha256"] == data["run"]["config_sha256"]
    assert stored["run"]["timings_s"] == data["run"]["timings_s"]
    assert stored["queue"] == data["queue"] and stored["episode"]["cut_times"] == data["episode"]["cut_times"]
    with browse(again) as page:
        check_totals(page, rows, stored)
        assert page.locator(".tl-row img.thumb").count() >= 2  # featured thumbnails from the catalog
    assert open_artifacts(load_settings()).get("reports/unsorted/hamilton/report.html") == again.read_bytes()
