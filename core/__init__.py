"""Screenalytics: face, voice and screen-time intelligence for TV episodes."""

from screenalytics.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
