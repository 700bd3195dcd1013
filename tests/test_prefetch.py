"""Decoding ahead in a thread keeps order, raises the decoder's errors and stops when abandoned."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from screenalytics.stages.prefetch import prefetch


def test_order_and_errors_are_kept() -> None:
    assert list(prefetch(range(100), 4)) == list(range(100))
    assert list(prefetch(range(5), 0)) == list(range(5))

    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("corrupt frame 2")

    got = []
    with pytest.raises(ValueError, match="corrupt frame 2"):
        for x in prefetch(broken(), 2):
            got.append(x)
    assert got == [1]


def test_an_abandoned_prefetch_stops_its_thread() -> None:
    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    before = threading.active_count()
    gen = prefetch(endless(), 3)
    assert next(gen) == 0
    gen.close()
    time.sleep(0.3)
    assert threading.active_count() == before
    assert len(produced) <= 6  # it never ran far ahead
