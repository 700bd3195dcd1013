"""Unit vectors and the one matching rule (threshold plus margin) faces and voices share."""

from __future__ import annotations

import numpy as np


def normalise(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def best_match(scores: np.ndarray, threshold: float, margin: float) -> tuple[int, float] | None:
    """(index, score) of the best candidate when it clears ``threshold`` and beats the runner-up
    by ``margin``; None when the evidence is not clear."""
    s = np.asarray(scores)
    if s.size == 0:
        return None
    order = np.argsort(-s)
    best = float(s[order[0]])
    runner = float(s[order[1]]) if len(s) > 1 else -1.0
    if best >= threshold and best - runner >= margin:
        return int(order[0]), best
    return None
