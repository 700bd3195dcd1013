"""MCP servers that drive Screenalytics from IDE agents and agent runners.

Three servers, each a thin layer over ``screenalytics.service.operations``:
``screenalytics`` (process episodes as jobs, review, export), ``storage`` (artifacts, confined
to the configured root) and ``analytics`` (read-only SQL). Start one with
``screenalytics mcp serve NAME``.
"""

from screenalytics.mcp_servers.servers import SERVERS, build_server, serve

__all__ = ["SERVERS", "build_server", "serve"]
