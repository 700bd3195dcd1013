"""Exporters (parquet, rttm, srt, vtt, eaf): each file is read back with its own format's parser and must say
what the run found: the same times, names and counts."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import srt
import webvtt
from click.testing import CliRunner
from pyannote.core import Annotation, Segment
from pympi.Elan import Eaf

from conftest import REPO, VIDEO
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.errors import ConfigError
from screenalytics.model.media import VideoInfo
from screenalytics.model.records import (
    Assignment,
    AVLink,
    Detection,
    ScreenTime,
    SpeechSegment,
    Track,
    TranscriptWord,
)
from screenalytics.model.run import RunResult
from screenalytics.registry.plugins import get_implementation, new_exporter
from screenalytics.service import Service
from screenalytics.stages.publish import store_tables

FORMATS = ["parquet", "rttm", "srt", "vtt", "eaf"]
SPEECH_0 = "I am the very model of a modern major general I have information vegetable animal and mineral"
SPEECH_3 = "No words were stored for this turn"


def _det(i: int, track: int, t: float) -> Detection:
    return Detection(i, t, 0.5, 0, 0, 0, 10, 10, 0.9, [0.0] * 10, track, 0.8, 0.0, i)


def _words(turn: int, text: str, start: float, step: float) -> list[TranscriptWord]:
    return [TranscriptWord(turn, start + i * step, start + (i + 0.8) * step, w, 0.9) for i, w in enumerate(text.split())]


def make_result() -> RunResult:
    """Two faces and an unlabelled one, a frame-level relabel, overlapping turns, turns with and without words."""
    dets = [_det(i, 1, 0.5 * i) for i in range(5)]  # track 1: 0.0 .. 2.5
    dets += [_det(5 + i, 2, 1.0 + 0.5 * i) for i in range(4)]  # track 2: 1.0 .. 3.0
    dets.append(_det(9, 3, 3.0))  # track 3: nobody
    assignments = [
        Assignment(1, 0.0, 2.5, "kit", 0.7, 0.2, "facebank", 0.3, assignment_id="a0", confidence=0.8),
        Assignment(2, 1.0, 3.0, "rose", 0.6, 0.1, "facebank", 0.3, assignment_id="a1"),  # no confidence: the score
        Assignment(1, 1.5, 2.0, "rose", 1.0, 0.0, "manual", 0.0, assignment_id="m1", label_source="manual"),  # one frame
    ]
    tracks = [
        Track(1, 0, 0.0, 2.5, 5, 0.9, "kit", 0.8),
        Track(2, 0, 1.0, 3.0, 4, 0.9, "rose", 0.6),
        Track(3, 0, 3.0, 3.5, 1, 0.9),
    ]
    speech = [
        SpeechSegment(0, 0.0, 4.0, "SPEAKER_00", "kit", "cooccurrence", 0.9, True, SPEECH_0),
        SpeechSegment(1, 2.5, 3.5, "SPEAKER_01", "rose", "cooccurrence", 0.7, True, "Wait, self-starter?"),
        SpeechSegment(2, 5.0, 6.0, "SPEAKER_02", "speaker_1", "unlinked", 0.0, False, ""),  # heard, not transcribed
        SpeechSegment(3, 6.5, 8.0, "SPEAKER_01", "rose", "cooccurrence", 0.7, True, SPEECH_3),
        SpeechSegment(4, 7.5, 9.0, "SPEAKER_03", "the narrator", "voicebank", 0.8, True, "Meanwhile <elsewhere> & later."),
    ]
    words = (
        _words(0, SPEECH_0, 0.1, 0.2) + _words(1, "Wait, self -starter?", 2.6, 0.3) + [TranscriptWord(-1, 9.5, 9.8, "um", 0.3)]
    )
    links = [AVLink(0, 0.0, 4.0, "SPEAKER_00", "kit", 1, "cooccurrence", 0.9, 2.5, 1.5)]
    screen = [ScreenTime("kit", 2.0, 4.0, 2.0, 0.8), ScreenTime("rose", 2.0, 2.5, 1.5, 0.7), ScreenTime("amy", 0.0)]  # as sorted
    video = VideoInfo(Path("ep.mp4"), 640, 360, 25.0, 10.0, 250, True)
    return RunResult(
        "ep1", "r1", video, dets, tracks, [], assignments, screen, [], [], 10, speech=speech, words=words, av_links=links
    )


def export(fmt: str, result: RunResult, out: Path, **options: object) -> list[Path]:
    settings = load_settings(plugins={fmt: options} if options else {})
    out.mkdir(parents=True, exist_ok=True)
    return new_exporter(get_implementation("exporter", fmt), settings).export(result, out)


# -- parquet ----------------------------------------------------------------------------------


def test_parquet_tables_carry_keys_times_people_and_words(tmp_path):
    result = make_result()
    files = export("parquet", result, tmp_path)
    assert [f.name for f in files] == [
        "screen_time.parquet",
        "tracks.parquet",
        "detections.parquet",
        "speech.parquet",
        "av_links.parquet",
    ]
    tables = {f.stem: pq.read_table(f) for f in files}
    for table in tables.values():
        assert set(table.column("episode_id").to_pylist()) == {"ep1"} and set(table.column("run_id").to_pylist()) == {"r1"}
    assert tables["screen_time"].select(["person_id", "visual_s", "speaking_s", "both_s"]).to_pylist() == [
        {"person_id": r.person_id, "visual_s": r.visual_s, "speaking_s": r.speaking_s, "both_s": r.both_s}
        for r in result.screen_time
    ]
    dets = tables["detections"].to_pylist()
    # The frame-level label (track 1 at 1.5 s) beats the track's; track 3 has no label.
    who = [(d["track_id"], d["t"], d["person_id"], d["confidence"] and round(d["confidence"], 3)) for d in dets]
    assert who == [
        (1, 0.0, "kit", 0.8),
        (1, 0.5, "kit", 0.8),
        (1, 1.0, "kit", 0.8),
        (1, 1.5, "rose", 1.0),
        (1, 2.0, "kit", 0.8),
        *[(2, 1.0 + 0.5 * i, "rose", 0.6) for i in range(4)],
        (3, 3.0, None, None),
    ]
    assert tables["tracks"].select(["track_id", "start_t", "end_t", "person_id"]).to_pylist()[0] == {
        "track_id": 1,
        "start_t": 0.0,
        "end_t": 2.5,
        "person_id": "kit",
    }
    speech = tables["speech"].to_pylist()
    assert [(s["turn_id"], s["start"], s["end"], s["person_id"]) for s in speech] == [
        (s.turn_id, s.start, s.end, s.person_id) for s in result.speech
    ]
    assert " ".join(w["word"] for w in speech[0]["words"]) == SPEECH_0 and speech[3]["words"] == []
    assert tables["av_links"].to_pylist()[0]["track_id"] == 1


def test_parquet_writes_every_table_even_when_empty(tmp_path):
    result = make_result()
    empty = RunResult("ep0", "r0", result.video, [], [], [], [], [], [], [], 0)
    files = export("parquet", empty, tmp_path)
    assert len(files) == 5
    for f in files:
        table = pq.read_table(f)
        assert table.num_rows == 0 and {"episode_id", "run_id"} <= set(table.column_names)
    assert {"person_id", "confidence", "t", "track_id"} <= set(pq.read_table(tmp_path / "detections.parquet").column_names)


# -- rttm -------------------------------------------------------------------------------------


def read_rttm(path: Path, uri: str = "ep1") -> Annotation:
    """A minimal RTTM reader into pyannote.core (SPEAKER uri 1 start duration <NA> <NA> name <NA> <NA>)."""
    annotation = Annotation(uri=uri)
    for i, line in enumerate(path.read_text().splitlines()):
        kind, file_id, channel, start, duration, na1, na2, name, na3, na4 = line.split(" ")
        assert (kind, file_id, channel, na1, na2, na3, na4) == ("SPEAKER", uri, "1", "<NA>", "<NA>", "<NA>", "<NA>")
        annotation[Segment(float(start), float(start) + float(duration)), i] = name
    return annotation


def test_rttm_regular_keeps_overlaps_and_exclusive_has_none(tmp_path):
    result = make_result()
    regular, exclusive = export("rttm", result, tmp_path)
    assert (regular.name, exclusive.name) == ("speech.rttm", "speech.exclusive.rttm")
    reg, exc = read_rttm(regular), read_rttm(exclusive)
    assert len(reg) == 5 and sorted(reg.labels()) == ["kit", "rose", "speaker_1", "the_narrator"]
    assert reg.get_overlap().duration() == pytest.approx(1.0 + 0.5)  # rose over kit, the narrator over rose
    for person in reg.labels():  # every turn of each person, as stored
        assert reg.label_duration(person) == pytest.approx(
            sum(s.end - s.start for s in result.speech if s.person_id.replace(" ", "_") == person)
        )
    assert not exc.get_overlap()
    # The turn that started last holds the floor; kit resumes after rose's interruption.
    assert dict(exc.chart()) == pytest.approx({"kit": 3.0, "rose": 2.0, "the_narrator": 1.5, "speaker_1": 1.0})
    assert exc.get_timeline().support().duration() == pytest.approx(reg.get_timeline().support().duration())
    assert [(round(s.start, 3), round(s.end, 3), name) for s, _, name in exc.itertracks(yield_label=True)] == [
        (0.0, 2.5, "kit"),
        (2.5, 3.5, "rose"),
        (3.5, 4.0, "kit"),
        (5.0, 6.0, "speaker_1"),
        (6.5, 7.5, "rose"),
        (7.5, 9.0, "the_narrator"),
    ]


# -- srt and vtt ------------------------------------------------------------------------------


def test_srt_cues_name_the_speaker_and_split_long_turns(tmp_path):
    result = make_result()
    (path,) = export("srt", result, tmp_path)
    cues = list(srt.parse(path.read_text(encoding="utf-8")))
    lines = [(c.start.total_seconds(), c.end.total_seconds(), *c.content.split(": ", 1)) for c in cues]
    kit = [line for line in lines if line[2] == "kit"]
    assert len(kit) == 2 and all(len(text) <= 84 and end - start <= 7.0 for start, end, _, text in kit)
    assert " ".join(text for *_, text in kit) == SPEECH_0
    assert kit[0][0] == pytest.approx(0.1) and kit[-1][1] == pytest.approx(0.1 + (len(SPEECH_0.split()) - 1 + 0.8) * 0.2)
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    assert [line[0] for line in lines] == sorted(line[0] for line in lines)
    assert [(s, e, who, text) for s, e, who, text in lines if who != "kit"] == [
        (2.6, 3.44, "rose", "Wait, self-starter?"),  # its words' times, the turn's own spelling
        (6.5, 8.0, "rose", SPEECH_3),  # no words stored: the turn's own times
        (7.5, 9.0, "the narrator", "Meanwhile <elsewhere> & later."),
    ]  # speaker_1's turn has no text: no cue; the word outside every turn: none either


def test_cue_limits_are_plugin_options(tmp_path):
    result = make_result()
    (path,) = export("srt", result, tmp_path, max_cue_s=1.0, max_chars=30)
    cues = list(srt.parse(path.read_text(encoding="utf-8")))
    for c in cues:
        text = c.content.split(": ", 1)[1]
        assert len(text) <= 30 and (c.end - c.start).total_seconds() <= 1.0 + 1e-9
    kit = [c.content.split(": ", 1)[1] for c in cues if c.content.startswith("kit: ")]
    assert len(kit) > 2 and " ".join(kit) == SPEECH_0
    long = [c.content.split(": ", 1)[1] for c in cues if c.content.startswith("rose: ")][1:]
    assert " ".join(long) == SPEECH_3  # a turn without words is split by characters over its time
    with pytest.raises(ConfigError, match="plugins.vtt.max_cue_s"):
        export("vtt", result, tmp_path, max_cue_s=0)


def test_vtt_has_voice_spans_and_escaped_text(tmp_path):
    result = make_result()
    (path,) = export("vtt", result, tmp_path)
    assert path.read_text(encoding="utf-8").startswith("WEBVTT\n\n")
    captions = webvtt.read(str(path))
    srt_cues = list(srt.parse(export("srt", result, tmp_path / "srt")[0].read_text(encoding="utf-8")))
    assert len(captions) == len(srt_cues)
    for cap, cue in zip(captions, srt_cues, strict=True):
        assert cap.start.replace(".", ",") == srt.timedelta_to_srt_timestamp(cue.start)
        assert cap.end.replace(".", ",") == srt.timedelta_to_srt_timestamp(cue.end)
        assert f"{cap.voice}: {html.unescape(cap.text)}" == cue.content
    assert captions[-1].voice == "the narrator" and "&lt;elsewhere&gt; &amp;" in captions[-1].raw_text


# -- eaf --------------------------------------------------------------------------------------


def test_eaf_has_a_visual_and_a_speaking_tier_per_person(tmp_path):
    result = make_result()
    (path,) = export("eaf", result, tmp_path)
    eaf = Eaf(str(path))
    people = ["kit", "rose", "speaker_1", "the narrator"]
    assert list(eaf.get_tier_names()) == [f"{p} {k}" for p in people for k in ("visual", "speaking")]

    def spans(tier: str) -> list[tuple[int, int, str]]:
        return sorted(eaf.get_annotation_data_for_tier(tier))

    # kit is seen on track 1 except the frame relabelled to rose; rose on track 2 and that frame.
    assert spans("kit visual") == [(0, 1500, "track 1"), (2000, 2500, "track 1")]
    assert spans("rose visual") == [(1000, 3000, "tracks 1, 2")]
    assert spans("speaker_1 visual") == [] and spans("the narrator visual") == []
    assert spans("kit speaking") == [(0, 4000, SPEECH_0)]
    assert spans("rose speaking") == [(2500, 3500, "Wait, self-starter?"), (6500, 8000, SPEECH_3)]
    assert spans("speaker_1 speaking") == [(5000, 6000, "")]
    assert eaf.get_parameters_for_tier("kit visual")["PARTICIPANT"] == "kit"
    # Deterministic: the same results give the same bytes.
    again = export("eaf", make_result(), tmp_path / "again")[0]
    assert again.read_bytes() == path.read_bytes()


# -- from the store and the CLI ---------------------------------------------------------------


def test_export_command_writes_every_format_from_the_store(tmp_path):
    """`export EP --format a,b --format c`: the stored episode exports as the in-memory result does."""
    result = make_result()
    service = Service()
    service.results.save_run(result.episode_id, result.run_id, store_tables(result))
    res = CliRunner().invoke(
        cli,
        ["export", "ep1", "--format", "parquet,rttm", "--format", "srt,vtt", "--format", "eaf", "--out", str(tmp_path / "cli")],
    )
    assert res.exit_code == 0, res.output
    written = [Path(p) for p in res.output.split()]
    assert {p.name for p in written} >= {
        "speech.rttm",
        "speech.exclusive.rttm",
        "transcript.srt",
        "transcript.vtt",
        "episode.eaf",
    }
    direct = tmp_path / "direct"
    for fmt in FORMATS:
        export(fmt, result, direct)
    for p in written:
        if p.suffix == ".parquet":
            assert pq.read_table(p).equals(pq.read_table(direct / p.name)), p.name
        else:
            assert p.read_text() == (direct / p.name).read_text(), p.name


def test_help_lists_installed_formats_and_unknown_ones_fail_before_work(tmp_path):
    help_text = " ".join(CliRunner().invoke(cli, ["export", "--help"]).output.split())
    for fmt in ["csv", "json", *FORMATS]:
        assert fmt in help_text
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        [
            "run",
            str(VIDEO),
            "--facebank",
            str(REPO / "tests/data/hamilton_facebank.yaml"),
            "--out",
            str(out),
            "--export",
            "parquet,nope",
        ],
    )
    assert res.exit_code == 1 and "unknown exporter plugin 'nope'" in res.output and "parquet" in res.output
    assert not out.exists()


# -- the real clip ----------------------------------------------------------------------------


@pytest.mark.slow
def test_hamilton_run_and_store_export_every_format(tmp_path):
    out, out2 = tmp_path / "run", tmp_path / "export"
    facebank = REPO / "tests" / "data" / "hamilton_facebank.yaml"
    args = ["run", str(VIDEO), "--facebank", str(facebank), "--out", str(out), "--episode-id", "hamilton", "-q"]
    res = CliRunner().invoke(cli, [*args, "--export", ",".join(FORMATS)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["export", "hamilton", "--format", ",".join(FORMATS), "--out", str(out2)])
    assert res.exit_code == 0, res.output
    rows = json.loads((out / "screen_time.json").read_text())
    speech = [json.loads(line) for line in (out / "speech.jsonl").read_text().splitlines()]
    for folder in (out, out2):
        screen = pq.read_table(folder / "screen_time.parquet").to_pylist()
        assert [r["person_id"] for r in screen] == [r["person_id"] for r in rows]
        for got, want in zip(screen, rows, strict=True):  # screen_time.json rounds to the millisecond
            assert {k: got[k] for k in want} == pytest.approx(want, abs=5e-4)
        dets = pq.read_table(folder / "detections.parquet").to_pylist()
        assert any(d["person_id"] == "lin-manuel-miranda" for d in dets)
        assert pq.read_table(folder / "speech.parquet").num_rows == len(speech) > 0
        lin = next(r for r in rows if r["person_id"] == "lin-manuel-miranda")
        reg = read_rttm(folder / "speech.rttm", "hamilton")
        assert not read_rttm(folder / "speech.exclusive.rttm", "hamilton").get_overlap()
        assert reg.label_duration("lin-manuel-miranda") == pytest.approx(lin["speaking_s"], abs=0.01)
        cues = list(srt.parse((folder / "transcript.srt").read_text(encoding="utf-8")))
        assert cues and "charter" in " ".join(c.content.lower() for c in cues)
        assert len(webvtt.read(str(folder / "transcript.vtt"))) == len(cues)
        eaf = Eaf(str(folder / "episode.eaf"))
        visual = eaf.get_annotation_data_for_tier("lin-manuel-miranda visual")
        assert sum(e - s for s, e, _ in visual) / 1000 == pytest.approx(lin["visual_s"], abs=0.05)
    for name in ("speech.rttm", "speech.exclusive.rttm", "transcript.srt", "transcript.vtt"):
        assert (out / name).read_text() == (out2 / name).read_text(), name
