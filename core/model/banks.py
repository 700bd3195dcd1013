"""Enrolled cast: face and voice galleries, one or more unit vectors per person."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from screenalytics.model.vectors import normalise


@dataclass
class Gallery:
    """Enrolled embeddings: ``vectors[i]`` belongs to ``person_ids[owners[i]]``."""

    person_ids: list[str]
    vectors: np.ndarray  # (M, D) unit vectors
    owners: np.ndarray  # (M,) index into person_ids

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """(N, P) cosine similarity of each query to each person's closest enrolled vector."""
        q = normalise(np.atleast_2d(queries))
        out = np.full((len(q), len(self.person_ids)), -1.0, dtype=np.float32)
        if len(self.vectors) == 0 or len(q) == 0:
            return out
        sims = q @ self.vectors.T
        for p in range(len(self.person_ids)):
            cols = self.owners == p
            if cols.any():
                out[:, p] = sims[:, cols].max(axis=1)
        return out


@dataclass
class Facebank:
    gallery: Gallery
    sources: list[str]  # one per gallery row: "path#sha256[:12]"
    skipped: list[str] = field(default_factory=list)  # photos in which no face was found

    @property
    def person_ids(self) -> list[str]:
        return self.gallery.person_ids


@dataclass
class Voicebank:
    gallery: Gallery
    sources: list[str]  # one per gallery row: "clip#sha256[:12]"
    skipped: list[str] = field(default_factory=list)  # clips without usable speech

    @property
    def person_ids(self) -> list[str]:
        return self.gallery.person_ids

    def scores(self, voice: np.ndarray) -> np.ndarray:
        """Cosine similarity of one voice to each person (their best clip)."""
        return self.gallery.scores(voice)[0]
