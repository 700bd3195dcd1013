#!/usr/bin/env python
"""Compose an evaluation episode with exact truth from a seed: cast photos and voices from the
shared media, occlusions, distractors, moving backgrounds, hard cuts, voice-over and overlap.

    python tools/episode_builder.py --seed 1 [--seconds 120] [--out DIR]

Writes DIR/seed<N>_<S>s/: episode.mp4 (640x360, 25 fps, H.264 + AAC mono 16 kHz), facebank/
(one photo per cast member; the OTHER photo of that person is the one shown), truth.json
(shots, visual intervals, speech turns to the sample) and truth_frames.jsonl (per frame: the
shot and its kind, every face's box and the share of it inside the frame).
Faces are located once on each source photo with YuNet, so truth boxes and occluders follow
the face exactly through every drift, zoom and slide.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCREENALYTICS_SHARED_DIR") or REPO.parent / "shared").resolve()
FACES = SHARED / "media" / "faces"
AUDIO = SHARED / "media" / "audio"
YUNET = SHARED / "models" / "face" / "face_detection_yunet_2023mar.onnx"
W, H, FPS, SR = 640, 360, 25, 16000
VERSION = 3  # bump when the composition changes, so cached episodes are rebuilt

# Cast candidates: people with two photos; one is enrolled, the other is shown.
PAIRS = {
    "obama": ("obama.jpg", "obama2.jpg"),
    "biden": ("biden.jpg", "biden2.jpg"),
    "kit_harington": ("kit_harington_1.jpeg", "kit_harington_2.jpeg"),
    "rose_leslie": ("rose_leslie_1.jpg", "rose_leslie_2.jpg"),
    "alex_lacamoire": ("alex-lacamoire.png", "alex_lacamoire_2.jpg"),
}
# Who is who in the other photos, faces ordered left to right (None: strangers, named by index).
GROUPS: dict[str, list[str] | None] = {
    "two_people.jpg": ["obama", "biden"],  # a third photo of each: shown, never enrolled
    "kit_with_rose.jpg": ["rose_leslie", "kit_harington"],
    "insightface_t1.jpg": None,
    "solvay_conference_1927.png": None,
    "lin-manuel-miranda.png": ["lin_manuel_miranda"],
    "Tom_Hanks_54745.png": ["tom_hanks"],
}
STRANGER_PREFIX = {"insightface_t1.jpg": "friends", "solvay_conference_1927.png": "solvay"}
# Voices: one speaker of a shared recording each, cut where the RTTM says they talk alone.
VOICES = {
    "sample_90": [("pyannote_sample.wav", "pyannote_sample.rttm", "sample", "speaker90")],
    "sample_91": [("pyannote_sample.wav", "pyannote_sample.rttm", "sample", "speaker91")],
    "ami_009": [(f"{f}.wav", "debug.development.rttm", f, "MEE009") for f in ("dev00", "dev01")],
    "ami_012": [(f"{f}.wav", "debug.development.rttm", f, "MEE012") for f in ("dev00", "dev01")],
}
KIND_WEIGHTS = {
    "normal": 6,
    "sunglasses": 2,
    "eye_band": 2,
    "lower_box": 2,
    "side_box": 2,
    "sliding": 2,
    "two_people": 4,
    "with_distractor": 2,
    "distractor": 3,
    "empty": 2,
}
OCCLUSIONS = ("sunglasses", "eye_band", "lower_box", "side_box")
NARRATOR = "narrator"  # a voice that belongs to nobody in the facebank


# --- faces on the source photos ------------------------------------------------------------------


@dataclass
class Face:
    person: str
    box: np.ndarray  # x1, y1, x2, y2 in source-photo pixels
    marks: np.ndarray  # 5x2: right eye, left eye, nose, right mouth corner, left mouth corner


@cache
def photo_faces(name: str) -> tuple[np.ndarray, list[Face]]:
    """The photo and its faces, left to right, named from PAIRS/GROUPS (detected once per photo)."""
    img = cv2.imread(str(FACES / name))
    scale = min(1.0, 1600 / max(img.shape[:2]))
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img
    det = cv2.FaceDetectorYN.create(str(YUNET), "", (small.shape[1], small.shape[0]), 0.6, 0.3, 5000)
    _, rows = det.detect(small)
    rows = [] if rows is None else sorted(rows, key=lambda r: r[0])
    names = GROUPS.get(name) or [p for p, photos in PAIRS.items() if name in photos]
    largest = max(range(len(rows)), key=lambda i: rows[i][2], default=-1)
    faces = []
    for i, r in enumerate(rows):
        if not names:
            person = f"{STRANGER_PREFIX.get(name, 'stranger')}_{i + 1}"
        elif len(names) == len(rows):
            person = names[i]
        else:  # someone else in a portrait: the largest face is the named one
            person = names[0] if i == largest else f"bystander_{name.split('.')[0]}_{i}"
        box = np.array([r[0], r[1], r[0] + r[2], r[1] + r[3]], np.float64) / scale
        faces.append(Face(person, box, np.asarray(r[4:14], np.float64).reshape(5, 2) / scale))
    return img, faces


@dataclass
class Portrait:
    """A crop of a photo around one face, with every face whose centre falls inside it."""

    image: np.ndarray
    main: Face
    faces: list[Face]
    source: str
    cover: np.ndarray | None = None  # the occluder, drawn over the image after the mouth moves
    cover_mask: np.ndarray | None = None


def portrait(name: str, person: str, margin: float = 1.0) -> Portrait:
    img, faces = photo_faces(name)
    main = next(f for f in faces if f.person == person)
    x1, y1, x2, y2 = main.box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.15 * h
    half_w, half_h = (0.75 + 0.45 * margin) * w, (0.8 + 0.5 * margin) * h
    cx0, cy0 = int(max(0, cx - half_w)), int(max(0, cy - half_h))
    cx1, cy1 = int(min(img.shape[1], cx + half_w)), int(min(img.shape[0], cy + half_h))
    off = np.array([cx0, cy0], np.float64)
    inside = [
        Face(f.person, f.box - np.tile(off, 2), f.marks - off)
        for f in faces
        if cx0 <= (f.box[0] + f.box[2]) / 2 < cx1 and cy0 <= (f.box[1] + f.box[3]) / 2 < cy1
    ]
    return Portrait(img[cy0:cy1, cx0:cx1].copy(), next(f for f in inside if f.person == person), inside, name)


def group_portrait(name: str) -> Portrait:
    """The whole width of a two-person photo, cropped to their heads and shoulders."""
    img, faces = photo_faces(name)
    x1, y1 = min(f.box[0] for f in faces), min(f.box[1] for f in faces)
    x2, y2 = max(f.box[2] for f in faces), max(f.box[3] for f in faces)
    h = max(f.box[3] - f.box[1] for f in faces)
    cx0, cy0 = int(max(0, x1 - 0.7 * h)), int(max(0, y1 - 0.6 * h))
    cx1, cy1 = int(min(img.shape[1], x2 + 0.7 * h)), int(min(img.shape[0], y2 + 0.9 * h))
    off = np.array([cx0, cy0], np.float64)
    inside = [Face(f.person, f.box - np.tile(off, 2), f.marks - off) for f in faces]
    main = max(inside, key=lambda f: f.box[3] - f.box[1])
    return Portrait(img[cy0:cy1, cx0:cx1].copy(), main, inside, name)


def occlude(p: Portrait, kind: str, rng: np.random.Generator) -> None:
    """Draw a whole-shot occluder on the portrait's main face, placed from its landmarks."""
    x1, y1, x2, y2 = p.main.box
    w, h = x2 - x1, y2 - y1
    reye, leye, nose, rmouth, lmouth = p.main.marks
    eye_d = float(np.linalg.norm(leye - reye))
    colour = [(15, 15, 15), (60, 60, 60), (30, 30, 120), (120, 60, 20)][int(rng.integers(4))]
    img = p.image.copy()
    if kind == "sunglasses":
        for eye in (reye, leye):
            cv2.ellipse(img, (int(eye[0]), int(eye[1])), (int(0.42 * eye_d), int(0.3 * eye_d)), 0, 0, 360, (12, 12, 12), -1)
        cv2.line(img, tuple(int(v) for v in reye), tuple(int(v) for v in leye), (12, 12, 12), max(2, int(0.06 * eye_d)))
    elif kind == "eye_band":
        yc = (reye[1] + leye[1]) / 2
        cv2.rectangle(img, (int(x1 - 0.1 * w), int(yc - 0.13 * h)), (int(x2 + 0.1 * w), int(yc + 0.13 * h)), colour, -1)
    elif kind == "lower_box":
        top = nose[1] + 0.3 * ((rmouth[1] + lmouth[1]) / 2 - nose[1])
        cv2.rectangle(img, (int(x1 - 0.1 * w), int(top)), (int(x2 + 0.1 * w), int(y2 + 0.15 * h)), colour, -1)
    elif kind == "side_box":
        if rng.random() < 0.5:
            cv2.rectangle(img, (int(x1 - 0.1 * w), int(y1 - 0.15 * h)), (int(nose[0]), int(y2 + 0.1 * h)), colour, -1)
        else:
            cv2.rectangle(img, (int(nose[0]), int(y1 - 0.15 * h)), (int(x2 + 0.1 * w), int(y2 + 0.1 * h)), colour, -1)
    p.cover, p.cover_mask = img, (img != p.image).any(axis=2)


def open_mouth(img: np.ndarray, face: Face, amount: float) -> np.ndarray:
    """The face talking: the jaw drops by up to 7% of the face height and the mouth opens dark,
    so a speaker's mouth moves with their voice (listeners' stay still)."""
    x1, y1, x2, y2 = face.box
    w, h = x2 - x1, y2 - y1
    rm, lm = face.marks[3], face.marks[4]
    mx, my, half = (rm[0] + lm[0]) / 2, (rm[1] + lm[1]) / 2, max(abs(lm[0] - rm[0]) / 2, 2.0)
    d = amount * 0.07 * h
    rx0, rx1 = int(max(0, mx - 0.8 * w)), int(min(img.shape[1], mx + 0.8 * w))
    ry0, ry1 = int(max(0, my - 0.1 * h)), int(min(img.shape[0], y2 + 0.5 * h))
    if d < 1 or rx1 - rx0 < 4 or ry1 - ry0 < 4:
        return img
    yy, xx = np.mgrid[ry0:ry1, rx0:rx1].astype(np.float32)
    bx = np.exp(-(((xx - mx) / (0.45 * w)) ** 2))
    by = np.clip((yy - my + 0.02 * h) / (0.07 * h), 0, 1) * np.clip((y2 + 0.45 * h - yy) / (0.35 * h), 0, 1)
    out = img.copy()
    out[ry0:ry1, rx0:rx1] = cv2.remap(
        img, xx, (yy - d * bx * by).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inner = out.copy()
    cv2.ellipse(inner, (int(mx), int(my + 0.5 * d)), (int(0.75 * half), max(1, int(0.45 * d))), 0, 0, 360, (35, 25, 45), -1)
    return cv2.addWeighted(inner, 0.8, out, 0.2, 0)


# --- shots ---------------------------------------------------------------------------------------


@dataclass
class Subject:
    """A portrait moving through a shot: face height and face centre interpolate from a to b."""

    portrait: Portrait
    height: tuple[float, float]
    centre: tuple[tuple[float, float], tuple[float, float]]


@dataclass
class Shot:
    index: int
    kind: str
    start_f: int
    end_f: int  # exclusive
    subjects: list[Subject] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)  # cast members shown
    background: np.ndarray | None = None
    pan: tuple[float, float] = (0.0, 0.0)

    @property
    def start(self) -> float:
        return self.start_f / FPS

    @property
    def end(self) -> float:
        return self.end_f / FPS


def background(rng: np.random.Generator) -> np.ndarray:
    """A textured gradient larger than the frame, panned across during the shot."""
    bh, bw = int(H * 1.5), int(W * 1.5)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:bh, 0:bw]
    g = (np.cos(angle) * xx / bw + np.sin(angle) * yy / bh)[..., None]
    g = (g - g.min()) / max(float(np.ptp(g)), 1e-6)
    img = (a * (1 - g) + b * g).astype(np.float32)
    noise = cv2.resize(rng.normal(0, 25, (bh // 24, bw // 24, 3)).astype(np.float32), (bw, bh), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(4, 9))):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        p = (int(rng.integers(0, bw)), int(rng.integers(0, bh)))
        if rng.random() < 0.5:
            cv2.circle(img, p, int(rng.integers(10, 60)), c, -1)
        else:
            cv2.rectangle(img, p, (p[0] + int(rng.integers(20, 140)), p[1] + int(rng.integers(5, 40))), c, -1)
    return img


def motion(rng: np.random.Generator, portrait: Portrait, kind: str, x: float, height: float) -> Subject:
    """Drift and zoom for a face centred at x (fraction of width); 'sliding' leaves or enters the frame."""
    h0 = height
    h1 = h0 * rng.uniform(1.0, 1.18)
    c0 = (x * W + rng.uniform(-15, 15), H * rng.uniform(0.4, 0.52))
    c1 = (c0[0] + rng.uniform(-35, 35), c0[1] + rng.uniform(-12, 12))
    if kind == "sliding":
        out_x = -0.9 * h1 if rng.random() < 0.5 else W + 0.9 * h1
        c1 = (out_x, c0[1])
        if rng.random() < 0.5:  # slides in instead of out
            c0, c1 = c1, c0
    return Subject(portrait, (h0, h1), (c0, c1))


def plan_shots(rng: np.random.Generator, seconds: float, cast: list[str], shown: dict[str, str]) -> list[Shot]:
    """Shot kinds in shuffled order, lengths 2.5-6 s, cast balanced by screen time so far."""
    n = max(len(KIND_WEIGHTS), round(seconds / 4.2))
    total_w = sum(KIND_WEIGHTS.values())
    kinds = [k for k, wgt in KIND_WEIGHTS.items() for _ in range(max(1, round(wgt * n / total_w)))]
    rng.shuffle(kinds)
    lengths = rng.uniform(2.5, 6.0, len(kinds))
    frames = np.maximum(np.round(lengths * seconds / lengths.sum() * FPS).astype(int), FPS)
    frames[-1] += round(seconds * FPS) - int(frames.sum())
    strangers = [(photo, f.person) for photo in GROUPS for f in photo_faces(photo)[1] if f.person not in cast]
    strangers = [s for s in strangers if not s[1].startswith("solvay_") or int(s[1].split("_")[1]) % 3 == 0]
    strangers += [(PAIRS[p][int(rng.integers(2))], p) for p in PAIRS if p not in cast]
    seen = dict.fromkeys(cast, 0.0)
    shots, f0 = [], 0
    for i, (kind, nf) in enumerate(zip(kinds, frames)):
        shot = Shot(i, kind, f0, f0 + int(nf), background=background(rng), pan=(rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)))
        f0 += int(nf)
        least = sorted(cast, key=lambda p: (seen[p], rng.random()))
        if kind == "two_people":
            a, b = least[:2]
            group = next((g for g, names in GROUPS.items() if names and set(names) == {a, b}), None)
            if group and rng.random() < 0.5:
                shot.subjects = [motion(rng, group_portrait(group), "normal", 0.5, rng.uniform(70, 95))]
            else:
                for x, p in zip((0.28, 0.72), (a, b)):
                    shot.subjects.append(motion(rng, portrait(shown[p], p, margin=0.3), "normal", x, rng.uniform(70, 100)))
            shot.cast = [a, b]
        elif kind == "with_distractor":
            photo, who = strangers[int(rng.integers(len(strangers)))]
            xs = (0.28, 0.72) if rng.random() < 0.5 else (0.72, 0.28)
            for x, (ph, p) in zip(xs, ((shown[least[0]], least[0]), (photo, who))):
                shot.subjects.append(motion(rng, portrait(ph, p, margin=0.3), "normal", x, rng.uniform(70, 100)))
            shot.cast = [least[0]]
        elif kind == "distractor":
            photo, who = strangers[int(rng.integers(len(strangers)))]
            shot.subjects = [motion(rng, portrait(photo, who), "normal", rng.uniform(0.35, 0.65), rng.uniform(90, 160))]
        elif kind != "empty":
            p = least[0]
            face = portrait(shown[p], p)
            if kind in OCCLUSIONS:
                occlude(face, kind, rng)
            shot.subjects = [motion(rng, face, kind, rng.uniform(0.35, 0.65), rng.uniform(90, 170))]
            shot.cast = [p]
        for p in shot.cast:
            seen[p] += nf / FPS
        shots.append(shot)
    return shots


def render(shot: Shot, f: int, openings: dict[str, np.ndarray]) -> tuple[np.ndarray, list[dict]]:
    """One frame of the shot and every face in it: person, box in frame pixels, visible share."""
    u = (f - shot.start_f) / max(shot.end_f - shot.start_f - 1, 1)
    bg = shot.background
    ox = int((0.5 + shot.pan[0] * (2 * u - 1)) * (bg.shape[1] - W))
    oy = int((0.5 + shot.pan[1] * (2 * u - 1)) * (bg.shape[0] - H))
    canvas = bg[oy : oy + H, ox : ox + W].astype(np.float32)
    faces = []
    for s in shot.subjects:
        p = s.portrait
        scale = (s.height[0] + (s.height[1] - s.height[0]) * u) / (p.main.box[3] - p.main.box[1])
        centre = np.array(s.centre[0]) + (np.array(s.centre[1]) - np.array(s.centre[0])) * u
        main_c = np.array([(p.main.box[0] + p.main.box[2]) / 2, (p.main.box[1] + p.main.box[3]) / 2])
        x0, y0 = centre - main_c * scale
        img = p.image
        for face in p.faces:
            if face.person in openings and openings[face.person][f] > 0.05:
                img = open_mouth(img, face, float(openings[face.person][f]))
        if p.cover is not None:
            img = np.where(p.cover_mask[..., None], p.cover, img)
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        ih, iw = img.shape[:2]
        alpha = feather(ih, iw)
        ix0, iy0 = int(round(x0)), int(round(y0))
        sx, sy, dx, dy = max(0, -ix0), max(0, -iy0), max(0, ix0), max(0, iy0)
        cw, ch = min(iw - sx, W - dx), min(ih - sy, H - dy)
        if cw > 0 and ch > 0:
            a = alpha[sy : sy + ch, sx : sx + cw, None]
            region = canvas[dy : dy + ch, dx : dx + cw]
            canvas[dy : dy + ch, dx : dx + cw] = region * (1 - a) + img[sy : sy + ch, sx : sx + cw] * a
        for face in p.faces:
            box = face.box * scale + np.array([ix0, iy0, ix0, iy0])
            clip = np.array([max(box[0], 0, ix0), max(box[1], 0, iy0), min(box[2], W, ix0 + iw), min(box[3], H, iy0 + ih)])
            area = max(0.0, clip[2] - clip[0]) * max(0.0, clip[3] - clip[1])
            share = area / max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
            faces.append({"person": face.person, "box": [round(float(v), 1) for v in box], "visible": round(float(share), 3)})
    return canvas.astype(np.uint8), faces


def feather(h: int, w: int) -> np.ndarray:
    """An alpha mask that fades the portrait's edges into the background (no hard photo border)."""
    ramp = max(2, int(0.08 * min(h, w)))
    ax = np.minimum(np.minimum(np.arange(w), np.arange(w)[::-1]) / ramp, 1.0)
    ay = np.minimum(np.minimum(np.arange(h), np.arange(h)[::-1]) / ramp, 1.0)
    return (ay[:, None] * ax[None, :]).astype(np.float32)


# --- voices --------------------------------------------------------------------------------------


@dataclass
class Voice:
    name: str
    stretches: list[np.ndarray]  # single-speaker pieces, loudness-normalised


@cache
def load_wav(name: str) -> np.ndarray:
    with av.open(str(AUDIO / name)) as c:
        res = av.AudioResampler(format="flt", layout="mono", rate=SR)
        chunks = [r.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for r in res.resample(fr)]
    return np.concatenate(chunks).astype(np.float32)


def read_rttm(path: Path, file_id: str) -> list[tuple[float, float, str]]:
    """(start, end, speaker) turns of one file id."""
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(float(p[3]), float(p[3]) + float(p[4]), p[7]) for p in rows if p and p[0] == "SPEAKER" and p[1] == file_id]


def load_voice(name: str) -> Voice:
    """The speaker's stretches where nobody else talks (0.05 s trimmed), at one loudness."""
    pieces = []
    for wav, rttm, file_id, speaker in VOICES[name]:
        samples = load_wav(wav)
        turns = read_rttm(AUDIO / rttm, file_id)
        others = [(s, e) for s, e, who in turns if who != speaker]
        for s, e, who in turns:
            if who != speaker:
                continue
            spans = [(s, e)]
            for os_, oe in others:
                spans = [part for a, b in spans for part in ((a, min(b, os_)), (max(a, oe), b)) if part[1] > part[0]]
            for a, b in spans:
                if b - a >= 1.0:
                    pieces.append(samples[int((a + 0.05) * SR) : int((b - 0.05) * SR)])
    rms = float(np.sqrt(np.mean(np.concatenate(pieces) ** 2)))
    return Voice(name, [p * (0.06 / max(rms, 1e-6)) for p in pieces])


def cut_line(rng: np.random.Generator, voice: Voice, seconds: float) -> np.ndarray:
    """A piece of the voice about ``seconds`` long (shorter when no stretch is that long)."""
    n = int(seconds * SR)
    fits = [p for p in voice.stretches if len(p) >= n] or [max(voice.stretches, key=len)]
    piece = fits[int(rng.integers(len(fits)))]
    n = min(n, len(piece))
    at = int(rng.integers(0, len(piece) - n + 1))
    return piece[at : at + n]


@dataclass
class Line:
    person: str
    start: float
    samples: np.ndarray
    tags: list[str] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / SR


def plan_speech(rng: np.random.Generator, shots: list[Shot], voices: dict[str, Voice]) -> list[Line]:
    """Lines shot by shot: the visible person talks, two visible people take turns (sometimes
    overlapping), someone off screen talks over, lines run over a cut, silences in between."""
    speakers = [p for p in voices if p != NARRATOR]
    lines: list[Line] = []
    free = 0.0
    for i, shot in enumerate(shots):
        last = i == len(shots) - 1
        t = max(shot.start + rng.uniform(0.1, 0.5), free + rng.uniform(0.2, 0.6))
        talkers = [p for p in shot.cast if p in voices]
        off = [p for p in voices if p not in shot.cast]
        plan: list[tuple[str, list[str]]] = []
        if len(talkers) == 2:
            plan = [(talkers[0], ["turn_taking"]), (talkers[1], ["turn_taking"])]
            if rng.random() < 0.5:
                plan.append((talkers[0], ["turn_taking"]))
        elif talkers:
            r = rng.random()
            plan = [(talkers[0], [])] if r < 0.88 or not off else [(off[int(rng.integers(len(off)))], ["voice_over"])]
        elif off and rng.random() < 0.35:
            plan = [(off[int(rng.integers(len(off)))], ["voice_over"])]
        for k, (who, tags) in enumerate(plan):
            final = k == len(plan) - 1
            over_cut = final and not last and rng.random() < 0.3
            room = shot.end - t - 0.1 + (rng.uniform(0.6, 1.6) if over_cut else 0.0)
            share = (shot.end - shot.start - 0.4) / len(plan) if "turn_taking" in tags else 9.0
            seconds = min(rng.uniform(1.5, 4.5), share, room)
            if seconds < 1.0:
                break
            line = Line(who, t, cut_line(rng, voices[who], seconds), [*tags, *(["over_cut"] if over_cut else [])])
            if line.end <= shot.end:
                line.tags = [x for x in line.tags if x != "over_cut"]
            lines.append(line)
            free = max(free, line.end)
            if "turn_taking" in tags and not final and rng.random() < 0.5:
                t = line.end - rng.uniform(0.4, 1.0)  # the next one cuts in: overlap at the hand-off
            else:
                t = line.end + rng.uniform(0.15, 0.5)
        # someone off screen talks over the visible speaker
        on = [ln for ln in lines if ln.start >= shot.start and ln.person in shot.cast and "turn_taking" not in ln.tags]
        others = [p for p in speakers if p not in shot.cast] or [p for p in voices if on and p != on[0].person]
        if on and others and on[0].end - on[0].start > 1.6 and rng.random() < 0.3:
            who = others[int(rng.integers(len(others)))]
            at = on[0].start + rng.uniform(0.4, on[0].end - on[0].start - 1.0)
            lines.append(Line(who, at, cut_line(rng, voices[who], rng.uniform(0.6, 1.4)), ["interjection"]))
            free = max(free, lines[-1].end)
    return sorted(lines, key=lambda ln: ln.start)


# --- the episode ---------------------------------------------------------------------------------


def choose_cast(rng: np.random.Generator) -> tuple[list[str], dict[str, str], dict[str, str], str]:
    """3-4 people, which photo each has enrolled and which shown, and the one who never speaks."""
    people = sorted(PAIRS)
    cast = sorted(rng.choice(people, size=int(rng.integers(3, 5)), replace=False).tolist())
    enrolled, shown = {}, {}
    for p in cast:
        a, b = PAIRS[p] if rng.random() < 0.5 else PAIRS[p][::-1]
        enrolled[p], shown[p] = a, b
    return cast, enrolled, shown, cast[int(rng.integers(len(cast)))]


def build_episode(seed: int, seconds: float = 120.0, out: Path = Path("out/eval")) -> Path:
    """Compose the episode for this seed (kept when already built) and return its folder."""
    folder = Path(out) / f"seed{seed}_{seconds:g}s"
    truth_path = folder / "truth.json"
    if truth_path.exists() and json.loads(truth_path.read_text()).get("version") == VERSION:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    cast, enrolled, shown, silent = choose_cast(rng)
    voice_names = list(VOICES)
    rng.shuffle(voice_names)
    talkers = [p for p in cast if p != silent]
    voice_of = dict(zip(talkers, voice_names))
    if len(voice_names) > len(talkers):
        voice_of[NARRATOR] = voice_names[len(talkers)]
    voices = {p: load_voice(v) for p, v in voice_of.items()}
    for p in cast:
        (folder / "facebank" / p).mkdir(parents=True)
        shutil.copy(FACES / enrolled[p], folder / "facebank" / p / enrolled[p])

    shots = plan_shots(rng, seconds, cast, shown)
    lines = plan_speech(rng, shots, voices)
    n_frames = shots[-1].end_f
    audio = rng.normal(0, 0.0015, int(n_frames / FPS * SR)).astype(np.float32)  # room tone
    for ln in lines:
        a = int(round(ln.start * SR))
        piece = ln.samples[: max(0, len(audio) - a)]
        audio[a : a + len(piece)] += piece

    openings = mouth_openings(lines, n_frames)
    frames: list[list[dict]] = []
    with av.open(str(folder / "episode.mp4"), "w") as container:
        vs = container.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "20", "preset": "veryfast"}
        aus = container.add_stream("aac", rate=SR)
        aus.layout = "mono"
        for shot in shots:
            for f in range(shot.start_f, shot.end_f):
                img, faces = render(shot, f, openings)
                frames.append(faces)
                for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                    container.mux(pkt)
        for pkt in vs.encode():
            container.mux(pkt)
        encode_audio(container, aus, audio)

    with (folder / "truth_frames.jsonl").open("w") as fh:
        for shot in shots:
            for f in range(shot.start_f, shot.end_f):
                fh.write(json.dumps({"frame": f, "shot": shot.index, "kind": shot.kind, "faces": frames[f]}) + "\n")
    truth = {
        "version": VERSION,
        "seed": seed,
        "fps": FPS,
        "width": W,
        "height": H,
        "sample_rate": SR,
        "duration": n_frames / FPS,
        "cast": [{"person": p, "enrolled": enrolled[p], "shown": shown[p], "voice": voice_of.get(p)} for p in cast],
        "silent": silent,
        "narrator_voice": voice_of.get(NARRATOR),
        "visible_rule": "a face counts as visible in a frame when at least half of its box is in the frame",
        "mouths": "visible speakers' jaws drop with the loudness of their voice; listeners' faces stay still",
        "shots": [
            {
                "index": s.index,
                "kind": s.kind,
                "start": s.start,
                "end": s.end,
                "cast": s.cast,
                "faces": sorted({f.person for sub in s.subjects for f in sub.portrait.faces}),
                "photos": [sub.portrait.source for sub in s.subjects],
            }
            for s in shots
        ],
        "visual": visual_intervals(frames),
        "speech": speech_turns(lines, frames),
    }
    truth_path.write_text(json.dumps(truth, indent=1))
    return folder


def mouth_openings(lines: list[Line], n_frames: int) -> dict[str, np.ndarray]:
    """Per person and video frame, how far the mouth opens (0-1) from the loudness of their lines."""
    hop = SR // FPS
    out: dict[str, np.ndarray] = {}
    for ln in lines:
        arr = out.setdefault(ln.person, np.zeros(n_frames))
        f0, k = int(round(ln.start * FPS)), len(ln.samples) // hop
        rms = np.sqrt(np.mean(ln.samples[: k * hop].reshape(k, hop) ** 2, axis=1))
        k = max(0, min(k, n_frames - f0))
        arr[f0 : f0 + k] = np.maximum(arr[f0 : f0 + k], np.clip(rms[:k] / 0.08, 0, 1))
    return out


def encode_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, samples: np.ndarray) -> None:
    frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
    frame.sample_rate, frame.time_base, frame.pts = SR, Fraction(1, SR), 0
    for pkt in [*stream.encode(frame), *stream.encode()]:
        container.mux(pkt)


def visible(faces: list[dict]) -> set[str]:
    return {f["person"] for f in faces if f["visible"] >= 0.5}


def visual_intervals(frames: list[list[dict]]) -> dict[str, list[list[float]]]:
    """Per person, the [start, end) seconds in which they are visible, frame-exact."""
    out: dict[str, list[list[float]]] = {}
    for f, faces in enumerate(frames):
        for p in visible(faces):
            spans = out.setdefault(p, [])
            if spans and abs(spans[-1][1] - f / FPS) < 1e-9:
                spans[-1][1] = (f + 1) / FPS
            else:
                spans.append([f / FPS, (f + 1) / FPS])
    return {p: [[round(a, 4), round(b, 4)] for a, b in v] for p, v in sorted(out.items())}


def speech_turns(lines: list[Line], frames: list[list[dict]]) -> list[dict]:
    """Each line with its mode: overlap (another voice at the same time), else on_screen when the
    speaker is visible for most of it, else voice_over."""
    turns = []
    for ln in lines:
        overlapped = any(o is not ln and o.start < ln.end and ln.start < o.end for o in lines)
        f0, f1 = int(ln.start * FPS), max(int(ln.start * FPS) + 1, int(ln.end * FPS))
        seen = sum(ln.person in visible(frames[f]) for f in range(f0, min(f1, len(frames)))) / max(f1 - f0, 1)
        mode = "overlap" if overlapped else "on_screen" if seen >= 0.5 else "voice_over"
        a = int(round(ln.start * SR))  # where the mix put it: sample-exact
        turns.append(
            {
                "person": ln.person,
                "start": a / SR,
                "end": (a + len(ln.samples)) / SR,
                "start_sample": a,
                "end_sample": a + len(ln.samples),
                "mode": mode,
                "tags": ln.tags,
                "visible_share": round(seen, 3),
            }
        )
    return turns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=Path("out/eval"))
    args = ap.parse_args()
    folder = build_episode(args.seed, args.seconds, args.out)
    truth = json.loads((folder / "truth.json").read_text())
    print(folder)
    print(
        "cast:", ", ".join(f"{c['person']} (voice {c['voice']})" for c in truth["cast"]), "| narrator:", truth["narrator_voice"]
    )
    print("shots:", " ".join(s["kind"] for s in truth["shots"]))


if __name__ == "__main__":
    main()
