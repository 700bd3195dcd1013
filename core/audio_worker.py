"""The audio side's child process (see stages/background.py): ``python -m screenalytics.audio_worker``
reads its job from stdin, runs the audio stages with plugins loaded here, and writes the result
to the file the parent named."""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any

from screenalytics.config import load_settings
from screenalytics.errors import ScreenalyticsError
from screenalytics.model.names import PluginKind
from screenalytics.registry.instances import PluginInstances
from screenalytics.registry.models import ModelStore
from screenalytics.stages.background import hear, load_class
from screenalytics.stages.clock import Timer


def _watch_parent(parent: int) -> None:
    """End this child when its parent is gone (killed runs must not leave audio work running)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def main() -> None:
    """The child: read (settings, arguments, result path) from stdin, write (kind, value) there."""
    settings, paths, args, result_path, parent = pickle.load(sys.stdin.buffer)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        classes = {PluginKind(kind): load_class(path) for kind, path in paths.items()}  # the parent's plugins
        s = load_settings(**settings)
        plugins = PluginInstances(s, ModelStore(s.models_dir), classes)  # not a Pipeline: no vision or store imports
        outcome: tuple[str, Any] = ("ok", hear(plugins, *args, timer=Timer()))
    except BaseException as e:  # hand every failure to the parent, as the error it would have raised
        try:
            pickle.dumps(e)
            outcome = ("error", e)
        except Exception:
            outcome = ("error", ScreenalyticsError(f"audio stages failed: {type(e).__name__}: {e}"))
    aside = Path(f"{result_path}.part")
    aside.write_bytes(pickle.dumps(outcome, protocol=5))
    aside.replace(result_path)


if __name__ == "__main__":
    main()
