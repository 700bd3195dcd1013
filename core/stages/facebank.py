"""Facebank enrolment: cast photos -> largest face -> aligned -> embedded, per person."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from screenalytics.config import FacebankConfig
from screenalytics.errors import InputError, require_utf8
from screenalytics.model.banks import Facebank, Gallery
from screenalytics.model.contracts import Detector, Recognizer
from screenalytics.stages.faces import LANDMARKS, largest

ALIGNED = 112


@dataclass
class Photo:
    person_id: str
    path: Path


def list_photos(path: Path, cfg: FacebankConfig) -> list[Photo]:
    """``DIR/<person_id>/*.jpg|png``, or a YAML file mapping person_id -> photo paths."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"facebank not found: {path}")
    exts = {e.lower() for e in cfg.extensions}
    photos: list[Photo] = []
    require_utf8(path, "facebank path")
    if path.is_file():
        try:
            mapping = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise InputError(f"facebank {path} is neither a folder of photos nor a YAML manifest (it is not text)") from None
        except yaml.YAMLError as e:
            raise InputError(f"facebank manifest {path} is not valid YAML: {str(e).splitlines()[0]}") from None
        except OSError as e:
            raise InputError(f"facebank manifest {path} cannot be read: {e.strerror or e}") from None
        if not isinstance(mapping, dict):
            raise InputError(f"facebank manifest {path} must map person_id to a list of photo paths")
        for person, files in mapping.items():
            listed = [files] if isinstance(files, str) else files if isinstance(files, list) else None
            if listed is None or not all(isinstance(f, str) for f in listed):
                raise InputError(
                    f"facebank manifest {path}: {person!r} must map to a photo path or a list of them, not {files!r}"
                )
            for f in listed:
                p = (path.parent / f).resolve()
                if not p.is_file():
                    raise InputError(f"facebank photo for {person!r} not found: {p}")
                photos.append(Photo(str(person), p))
    else:
        try:
            people = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            for person_dir in people:
                for f in sorted(person_dir.iterdir()):
                    # a broken or looping link is kept, so that enrolment names it as skipped
                    if f.suffix.lower() in exts and (f.is_file() or f.is_symlink()):
                        photos.append(Photo(person_dir.name, f))
        except OSError as e:
            raise InputError(f"facebank {path} cannot be read: {e.strerror or e}: {e.filename}") from None
    for photo in photos:
        require_utf8(photo.path, f"facebank photo of {photo.person_id!r}")
        if not photo.person_id.strip():
            raise InputError(f"facebank photo {photo.path} has an empty person_id")
    if not photos:
        raise InputError(
            f"facebank {path} is empty: expected {path}/<person_id>/<photo>{'|'.join(sorted(exts))} "
            "or a YAML manifest mapping person_id to photo paths"
        )
    return photos


def _decode_image(data: bytes) -> np.ndarray | None:
    """BGR image, or None for an empty or undecodable file."""
    if not data:
        return None
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None


def _face_landmarks(image: np.ndarray, detector: Detector, min_score: float) -> np.ndarray | None:
    """Landmarks of the largest face; retries with a border for tightly cropped portraits."""
    for pad in (0, image.shape[0] // 2):
        img = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT) if pad else image
        dets = detector.detect(img)
        if len(dets):
            dets = dets[dets.confidence >= min_score]
        i = largest(dets)
        if i is not None:
            return dets.data[LANDMARKS][i] - pad
    return None


def enrol(path: Path, detector: Detector, recognizer: Recognizer, cfg: FacebankConfig) -> Facebank:
    """Embed every photo; photos without a face are listed in ``skipped`` by name."""
    photos = list_photos(path, cfg)
    person_ids = list(dict.fromkeys(p.person_id for p in photos))
    crops, owners, sources, skipped = [], [], [], []
    for photo in photos:
        try:
            data = photo.path.read_bytes()
        except OSError as e:
            skipped.append(f"{photo.path} (cannot be read: {e.strerror or e})")
            continue
        image = _decode_image(data)
        if image is None:
            skipped.append(f"{photo.path} (not a readable image)")
            continue
        if image.shape[:2] == (ALIGNED, ALIGNED):
            crop = image  # already an aligned face chip
        else:
            lm = _face_landmarks(image, detector, cfg.detector_score_threshold)
            if lm is None:
                skipped.append(f"{photo.path} (no face found)")
                continue
            crop = recognizer.align(image, lm)
        crops.append(crop)
        owners.append(person_ids.index(photo.person_id))
        sources.append(f"{photo.path}#{hashlib.sha256(data).hexdigest()[:12]}")
    if not crops:
        raise InputError(f"no face found in any facebank photo under {path}: {'; '.join(skipped)}")
    vectors = recognizer.embed(np.stack(crops))
    return Facebank(Gallery(person_ids, vectors, np.array(owners)), sources, skipped)
