"""A real MCP client over stdio against a spawned `screenalytics mcp serve NAME` (test helper)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client, StdioServerParameters


def server_params(name: str, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "screenalytics", "mcp", "serve", name, *extra],
        env={**os.environ, **(env or {})},
    )


@asynccontextmanager
async def connect(name: str, *extra: str, **kwargs: Any) -> AsyncIterator[Client]:
    async with Client(server_params(name, *extra), read_timeout_seconds=120, **kwargs) as client:
        yield client


async def call(client: Client, tool: str, args: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A tool's structured result; a tool error raises ToolFailed with the server's one-line text."""
    result = await client.call_tool(tool, args or {}, **kwargs)
    text = " ".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        raise ToolFailed(text)
    return result.structured_content if result.structured_content is not None else json.loads(text)


class ToolFailed(Exception):
    pass
