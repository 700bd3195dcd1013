"""Named crash points for fault-injection tests: a real SIGKILL at a chosen place in a commit.

Inert unless SCREENALYTICS_TEST_KILL_AT names the point (tests set it in a child process's env).
"""

from __future__ import annotations

import os
import signal

ENV = "SCREENALYTICS_TEST_KILL_AT"


def kill_point(name: str) -> None:
    """Die here, as a power cut or OOM killer would, when the test asked for this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
