"""Every extension point of Screenalytics, in pipeline order.

A plugin is a module or object with functions marked ``@hookimpl`` named like the specs below.
``register_*`` hooks receive a ``register`` callback: a stage hook takes an implementation class
(checked against its contract in ``screenalytics.model.contracts``, selected by its ``name`` in
config, with its own settings in an optional ``Options`` pydantic model), ``register_models``
takes a ``ModelSpec``. This module imports only the data layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

    from screenalytics.model.names import Output
    from screenalytics.model.run import RunContext, RunResult

hookspec = pluggy.HookspecMarker("screenalytics")
hookimpl = pluggy.HookimplMarker("screenalytics")

Register = Callable[[Any], None]

# --- Models: the files plugins load ----------------------------------------------------------


@hookspec
def register_models(register: Register) -> None:
    """Register ModelSpec entries (files, sha256, download URL, licence) that plugins load by name."""


# --- Vision stages ---------------------------------------------------------------------------


@hookspec
def register_detectors(register: Register) -> None:
    """Register face detector classes (boxes, 5 landmarks, scores per frame)."""


@hookspec
def register_trackers(register: Register) -> None:
    """Register tracker classes that link detections across frames within a shot."""


@hookspec
def register_recognizers(register: Register) -> None:
    """Register face recognizer classes that turn aligned faces into embeddings."""


# --- Audio stages ----------------------------------------------------------------------------


@hookspec
def register_vads(register: Register) -> None:
    """Register voice activity detector classes (where is there speech)."""


@hookspec
def register_speaker_embedders(register: Register) -> None:
    """Register speaker embedding classes (one voice vector per stretch of speech)."""


@hookspec
def register_diarizers(register: Register) -> None:
    """Register speaker diarization classes (who spoke when)."""


@hookspec
def register_transcribers(register: Register) -> None:
    """Register speech-to-text classes."""


# --- Sound meets picture ---------------------------------------------------------------------


@hookspec
def register_active_speakers(register: Register) -> None:
    """Register active speaker classes (is this face speaking, frame by frame, from its crops and the sound)."""


# --- Output and interface --------------------------------------------------------------------


@hookspec
def register_exporters(register: Register) -> None:
    """Register exporter classes that write a run's results (CSV, JSON, ...)."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``screenalytics`` CLI."""


# --- Events: observe or alter results as the pipeline runs ------------------------------------


@hookspec
def run_started(context: RunContext) -> None:
    """Called once the input is validated, before the first frame is decoded."""


@hookspec
def stage_completed(stage: Output, result: Any, context: RunContext) -> None:
    """Called with each stage's final output (named by ``Output``), which a plugin may edit in place."""


@hookspec
def run_finished(result: RunResult, context: RunContext) -> None:
    """Called after results are computed and stored, before exporters run."""
