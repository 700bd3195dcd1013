"""Everything about an analysis request that can be checked before any work or any write, in one
place: the ids, the output folder, the video, the facebank and voice bank, and the store (reachable,
keys accepted, bucket present, writable). A bad request fails here in seconds, with a one-line
reason, instead of after hours of analysis or, worse, after rows are stored."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

from screenalytics.errors import InputError, require_utf8

if TYPE_CHECKING:  # pragma: no cover
    from screenalytics.model.media import VideoInfo
    from screenalytics.service.base import ServiceBase
    from screenalytics.service.types import AnalyseRequest

MAX_ID_LENGTH = 128
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
ID_RULE = f"1-{MAX_ID_LENGTH} characters of A-Z a-z 0-9 . _ - starting with a letter, digit or _"


def id_problem(value: object, what: str = "episode id") -> str | None:
    """Why ``value`` cannot key stored rows and artifacts (``episode/..`` would leave the layout),
    or None when it can."""
    if not isinstance(value, str) or not value:
        return f"{what} must be {ID_RULE} (got {value!r})"
    if len(value) > MAX_ID_LENGTH:
        return f"{what} is {len(value)} characters long: at most {MAX_ID_LENGTH}"
    if not _SAFE_ID.fullmatch(value):
        return f"{what} {value!r} must be {ID_RULE}"
    return None


def _valid_id(what: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = id_problem(value, what)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


# Request fields that become keys: every front door (CLI, Python, MCP, playbooks) validates them alike.
EpisodeId = Annotated[str, _valid_id("episode id")]
ShowId = Annotated[str, _valid_id("show id")]


def check_id(value: str, what: str = "episode id") -> str:
    problem = id_problem(value, what)
    if problem:
        raise InputError(problem)
    return value


def check_out_dir(out: Path) -> None:
    """The output folder exists as a folder, or can be made (nothing is created here)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is not a folder: choose another --out")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"output folder {out} cannot be made: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"output folder {out} cannot be written: {parent} is not writable")


def check_store(service: ServiceBase) -> None:
    """The artifact store takes a tiny probe object (written and deleted), and the result database
    opens: wrong keys, a missing bucket, a hung server or a read-only store fail here."""
    service.artifacts.probe_writable()
    service.results  # noqa: B018  (opening it lists its tables: the database answers)


def validate_request(req: AnalyseRequest, service: ServiceBase) -> VideoInfo:
    """Check a whole analysis request before any model loads or anything is written; returns
    the video's description. Raises a ScreenalyticsError with a one-line reason."""
    from screenalytics.model.names import AUDIO_STAGES, with_prerequisites
    from screenalytics.pipeline import episode_id_for
    from screenalytics.stages.decode import probe
    from screenalytics.stages.facebank import list_photos
    from screenalytics.stages.voicebank import list_clips

    settings = service.settings
    info = probe(req.video)
    if req.episode_id is not None:
        check_id(req.episode_id)
    else:
        episode = episode_id_for(info.path)
        if id_problem(episode):
            raise InputError(f"the episode id made from the file name, {episode!r}, is not valid: pass --episode-id ({ID_RULE})")
    if req.show is not None:
        check_id(req.show, "show id")
    check_out_dir(req.out_dir or Path("out") / (req.episode_id or episode_id_for(info.path)))
    list_photos(req.facebank, settings.facebank)
    hearing = settings.audio.enabled and bool(with_prerequisites(req.stages) & set(AUDIO_STAGES))
    if req.voicebank is not None and hearing:
        require_utf8(req.voicebank, "voice bank")
        list_clips(req.voicebank, settings.voicebank)
    check_store(service)
    return info
