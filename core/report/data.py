"""What the episode report shows, as plain JSON-able data, built from a RunResult (a run at hand,
or one read back from the store) plus what only the store knows (the reviewed queue, the
catalog's thumbnails, the published run.json). Rounded once here, so the page, the embedded JSON
and the CSV agree to the digit and the same inputs give the same bytes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from pydantic import BaseModel, Field

from screenalytics.model.names import PluginKind, Stage
from screenalytics.model.run import RunResult
from screenalytics.stages.screentime import merged
from screenalytics.stores.review_store import TrackLabels, label_of, review_queue, sample_of

if TYPE_CHECKING:  # pragma: no cover
    from screenalytics.config import Settings

Intervals = list[tuple[float, float]]

THUMBNAIL, QUEUE_CHIP, FACE_CHIP = 0, 1, 2  # image tiers, most important first (the budget drops from the end)


class ReportOptions(BaseModel, extra="forbid"):
    """Settings of the HTML report (``plugins.html``): what it shows and how big it may get."""

    max_images: int = Field(80, ge=0)  # images embedded at most (thumbnails first, then queue chips, then faces)
    image_max_side: int = Field(96, ge=16, le=1024)  # each image shrunk to at most this many pixels a side
    jpeg_quality: int = Field(80, ge=10, le=100)
    max_bytes: int = Field(4_000_000, ge=20_000)  # images are dropped (least important, largest first) above this
    max_turns: int = Field(300, ge=0)  # speech turns listed (the rest are counted)
    max_queue: int = Field(50, ge=0)  # review-queue tracks listed (the rest are counted)
    chips_per_person: int = Field(6, ge=0)  # face chips shown per person besides the thumbnail
    chips_per_track: int = Field(2, ge=0)  # face chips shown per review-queue track
    queue_threshold: float | None = Field(None, ge=0, le=1)  # None: the run's review.queue_threshold


@dataclass
class ReportExtras:
    """What a RunResult does not carry; all optional."""

    queue: list[dict[str, Any]] | None = None  # the stored review queue; None: computed from the run
    featured: dict[str, bytes] = field(default_factory=dict)  # person -> encoded image of their catalog thumbnail
    run_info: dict[str, Any] = field(default_factory=dict)  # run.json as published (timings, frames, audio)
    settings: Settings | None = None  # what to describe under "Run"; None: the run's own


@dataclass(frozen=True)
class Image:
    """A JPEG the page may embed: referenced from the data by ``id``."""

    id: str
    tier: int
    jpeg: bytes


@dataclass
class Report:
    data: dict[str, Any]  # embedded as JSON and rendered
    images: list[Image]  # most important first


def r3(x: float) -> float:
    return round(float(x), 3)


def build_report(result: RunResult, options: ReportOptions | None = None, extras: ReportExtras | None = None) -> Report:
    """The report of one episode: totals, intervals, review queue, speech, run metadata, images."""
    opts, extras = options or ReportOptions(), extras or ReportExtras()
    settings = extras.settings or (result.context.settings if result.context else None)
    info = extras.run_info
    duration = float(result.video.duration_s or info.get("duration_s") or 0.0)
    visual, speaking = visual_intervals(result), speaking_intervals(result)
    people = [
        {
            "person_id": row.person_id,
            "visual_s": r3(row.visual_s),
            "speaking_s": r3(row.speaking_s),
            "both_s": r3(row.both_s),
            "share": round(row.visual_s / duration, 4) if duration > 0 else 0.0,
            "confidence": r3(row.confidence),
            "visual": _plain(visual.get(row.person_id, [])),
            "speaking": _plain(speaking.get(row.person_id, [])),
            "both": _plain(intersection(visual.get(row.person_id, []), speaking.get(row.person_id, []))),
        }
        for row in result.screen_time
    ]
    threshold = opts.queue_threshold
    if threshold is None:
        threshold = settings.review.queue_threshold if settings is not None else 0.5
    queue = extras.queue if extras.queue is not None else run_queue(result, threshold)
    turns = sorted(result.speech, key=lambda s: (s.start, s.turn_id))
    data: dict[str, Any] = {
        "format": "screenalytics-report/1",
        "episode": {
            "episode_id": result.episode_id,
            "run_id": result.run_id,
            "video": Path(str(info.get("video") or result.video.path)).name,
            "duration_s": r3(duration),
            "frames_analysed": int(result.frames_analysed or info.get("frames_analysed") or 0),
            "shots": len(result.cut_times) + 1,
            "cut_times": [r3(t) for t in result.cut_times],
            "audio": result.audio_status if result.audio_status != "not stored" else info.get("audio", result.audio_status),
            **_short_video(result, info),
        },
        "people": people,
        "queue": {
            "threshold": r3(threshold),
            "total": len(queue),
            "tracks": [{**_queue_row(q), "chips": []} for q in queue[: opts.max_queue]],
        },
        "speech": {
            "total": len(turns),
            "turns": [
                {
                    "turn_id": s.turn_id,
                    "start": r3(s.start),
                    "end": r3(s.end),
                    "speaker": s.speaker,
                    "person_id": s.person_id,
                    "method": s.method,
                    "overlap": bool(s.overlap),
                    "text": s.text.strip(),
                }
                for s in turns[: opts.max_turns]
            ],
        },
        "run": run_metadata(result, settings, info),
    }
    images = _attach_images(result, data, extras.featured, opts)
    return Report(data, images)


def _short_video(result: RunResult, info: dict[str, Any]) -> dict[str, Any]:
    """The analysed span and the warning, only when the video decoded short (decode.on_short: warn)."""
    span = result.span
    warnings = [span.warning] if span is not None and span.warning else list(info.get("warnings") or [])
    if not warnings:
        return {}
    end = span.end_s if span is not None else float((info.get("analysed_span_s") or [0.0, 0.0])[1])
    return {"analysed_span_s": [0.0, r3(end)], "warnings": warnings}


# -- intervals ---------------------------------------------------------------------------------


def visual_intervals(result: RunResult) -> dict[str, Intervals]:
    """Where each person is on screen: their detections' (t, t + duration), merged. A detection's
    person is the label covering it, by the review rule (a frame-level label beats its track's)."""
    who = TrackLabels(label_of(vars(a)) for a in result.assignments)
    spans: dict[str, Intervals] = {}
    for d in result.detections:
        s = sample_of(vars(d))
        lab = who.person_at(s.track_id, s.t)
        if lab is not None:
            spans.setdefault(lab.person_id, []).append((s.t, s.t + s.duration))
    return {person: merged(iv) for person, iv in spans.items()}


def speaking_intervals(result: RunResult) -> dict[str, Intervals]:
    """Where each person speaks: their speech turns, merged."""
    spans: dict[str, Intervals] = {}
    for seg in result.speech:
        spans.setdefault(seg.person_id, []).append((seg.start, seg.end))
    return {person: merged(iv) for person, iv in spans.items()}


def intersection(a: Intervals, b: Intervals) -> Intervals:
    """Where both merged interval lists hold (both = visible while speaking)."""
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _plain(intervals: Intervals) -> list[list[float]]:
    """Rounded to the millisecond, and intervals that then touch joined (one frame's end is the
    next one's start, give or take a float's last bit)."""
    out: list[list[float]] = []
    for s, e in intervals:
        s, e = r3(s), r3(e)
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        elif e > s:
            out.append([s, e])
    return out


# -- review queue ------------------------------------------------------------------------------


def run_queue(result: RunResult, threshold: float) -> list[dict[str, Any]]:
    """The review queue of a run at hand, by the rule `screenalytics review queue` applies."""
    return review_queue(
        [t.to_dict() for t in result.tracks],
        [sample_of(vars(d)) for d in result.detections],
        [label_of(vars(a)) for a in result.assignments],
        [a.to_dict() for a in result.av_links],
        threshold,
    )


def _queue_row(q: dict[str, Any]) -> dict[str, Any]:
    return {
        "track_id": int(q["track_id"]),
        "person_id": q["person_id"],
        "confidence": r3(q["confidence"]),
        "seconds": r3(q["seconds"]),
        "reasons": list(q["reasons"]),
    }


# -- run metadata ------------------------------------------------------------------------------


def run_metadata(result: RunResult, settings: Settings | None, info: dict[str, Any]) -> dict[str, Any]:
    """Models, providers, timings and a hash of the effective settings (what reproduces the run)."""
    timings = {k: float(v) for k, v in (result.timings or info.get("timings_s") or {}).items()}
    order = {s.value: i for i, s in enumerate(Stage)}
    meta: dict[str, Any] = {
        "run_id": result.run_id,
        "timings_s": {k: r3(timings[k]) for k in sorted(timings, key=lambda k: (order.get(k, len(order)), k))},
        "skipped_photos": sorted(result.skipped_photos or info.get("skipped_facebank_photos") or []),
        "models": {},
        "providers": [],
        "config_sha256": "",
    }
    if settings is not None:
        effective = effective_settings(settings)
        meta["models"] = models_in_use(settings, effective["plugins"])
        meta["providers"] = _providers(settings)
        meta["config_sha256"] = config_hash(effective)
    return meta


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The settings in force, each installed plugin's own settings filled in (as `screenalytics config`)."""
    from screenalytics.registry.plugins import plugin_options

    data = settings.model_dump(mode="json")  # secrets come out masked
    data["plugins"] = {key: o.model_dump(mode="json") for key, o in plugin_options(settings).items()}
    return data


def config_hash(effective: dict[str, Any]) -> str:
    """sha256 of the effective settings as canonical JSON: equal hashes, equal settings."""
    return hashlib.sha256(json.dumps(effective, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def models_in_use(settings: Settings, plugins: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each stage's plugin, with the model it loads where it names one."""
    from screenalytics.config import options_key

    kinds = [PluginKind.DETECTOR, PluginKind.TRACKER, PluginKind.RECOGNIZER]
    if settings.audio.enabled:
        kinds += [PluginKind.VAD, PluginKind.SPEAKER_EMBEDDER, PluginKind.DIARIZER]
        if settings.transcription.enabled:
            kinds.append(PluginKind.TRANSCRIBER)
    out = {}
    for kind in kinds:
        name = str(kind.selected(settings))
        model = plugins.get(options_key(name), {}).get("model")
        if kind == PluginKind.RECOGNIZER:
            model = settings.recognition.model
        out[kind.value] = f"{name} ({model})" if model else name
    return out


def _providers(settings: Settings) -> list[str]:
    from screenalytics.runtime import providers

    return providers(settings.runtime)


# -- images ------------------------------------------------------------------------------------


def shrink_jpeg(image: np.ndarray | bytes, max_side: int, quality: int) -> bytes | None:
    """A BGR image (or encoded bytes) as a JPEG no larger than ``max_side`` a side."""
    if isinstance(image, bytes | bytearray):
        image = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return jpg.tobytes() if ok else None


def _attach_images(result: RunResult, data: dict[str, Any], featured: dict[str, bytes], opts: ReportOptions) -> list[Image]:
    """Pick the images (thumbnails, queue chips, face chips; at most max_images) and reference them from data."""
    chosen: dict[str, tuple[int, np.ndarray | bytes]] = {}

    def take(image_id: str, tier: int, image: np.ndarray | bytes) -> str:
        chosen.setdefault(image_id, (tier, image))
        return image_id

    best: dict[str, list[tuple[float, int]]] = {}  # person -> (quality, track) of each track's best chip
    for track in result.tracks:
        if track.person_id and result.chips.get(track.track_id):
            best.setdefault(track.person_id, []).append((result.chips[track.track_id][0][0], track.track_id))
    faces: dict[str, list[str]] = {}
    for person in data["people"]:
        pid = person["person_id"]
        person["thumbnail"], faces[pid] = None, []
        if person["visual_s"] <= 0 and person["speaking_s"] <= 0:  # not on the timeline: nowhere to show a face
            continue
        ranked = [t for _, t in sorted(best.get(pid, []), key=lambda qt: (-qt[0], qt[1]))]
        if pid in featured:
            person["thumbnail"] = take(f"thumb:{pid}", THUMBNAIL, featured[pid])
        elif ranked:
            person["thumbnail"] = take(f"chip:{ranked[0]}:0", THUMBNAIL, result.chips[ranked[0]][0][1])
            ranked = ranked[1:]
        faces[pid] = [f"chip:{t}:0" for t in ranked[: opts.chips_per_person]]
    for q in data["queue"]["tracks"]:
        for n, (_, crop) in enumerate(result.chips.get(q["track_id"], [])[: opts.chips_per_track]):
            q["chips"].append(take(f"chip:{q['track_id']}:{n}", QUEUE_CHIP, crop))
    for person in data["people"]:
        person["chips"] = [take(i, FACE_CHIP, result.chips[int(i.split(":")[1])][0][1]) for i in faces[person["person_id"]]]
    images = []
    for image_id, (tier, image) in sorted(chosen.items(), key=lambda kv: kv[1][0]):  # stable: tier, then first use
        if len(images) >= opts.max_images:
            break
        jpeg = shrink_jpeg(image, opts.image_max_side, opts.jpeg_quality)
        if jpeg is not None:
            images.append(Image(image_id, tier, jpeg))
    return images
