"""MCP servers that drive Screenalytics from IDE agents (to come with the MCP issue)."""
