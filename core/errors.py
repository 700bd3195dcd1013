"""User-facing errors: each carries a one-line reason the CLI prints as is."""

from __future__ import annotations


class ScreenalyticsError(Exception):
    """Base for errors a user can fix; the message names the problem and the fix."""

    exit_code = 1


class InputError(ScreenalyticsError):
    """A video, facebank or other input that cannot be used."""


class ConfigError(ScreenalyticsError):
    """A configuration value that does not validate, or an unknown plugin name."""


class ModelNotFoundError(ScreenalyticsError):
    """A model file that is not on disk; the message says where we looked and how to get it."""


class ModelLoadError(ScreenalyticsError):
    """A model file on disk that does not load (truncated by an interrupted copy, damaged, not a model)."""

    @classmethod
    def of(cls, path: object, e: BaseException) -> "ModelLoadError":
        reason = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        return cls(
            f"model file {path} does not load ({reason[:200]}): it may be truncated or damaged; "
            "check it with `screenalytics models verify` and fetch it again"
        )


class PluginError(ScreenalyticsError):
    """A plugin that does not keep its contract (a class without a name or a required method)."""


class Cancelled(ScreenalyticsError):
    """A run stopped on request (its stored results are those of the previous run, untouched)."""

    exit_code = 130


def require_utf8(path: object, what: str) -> None:
    """Paths end up in stored rows, manifests and artifact keys, which hold UTF-8 text only: a name
    that is not (bytes the file system keeps as surrogates) is an InputError naming it."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} {ascii(str(path))} is not a valid UTF-8 name: rename it") from None
