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


class PluginError(ScreenalyticsError):
    """A plugin that does not keep its contract (a class without a name or a required method)."""


class Cancelled(ScreenalyticsError):
    """A run stopped on request (its stored results are those of the previous run, untouched)."""

    exit_code = 130
