"""Building and serving the three MCP servers: their tools, resources and instructions."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from screenalytics import __version__
from screenalytics.errors import InputError
from screenalytics.mcp_servers.tools import OneLineErrors, add_operation
from screenalytics.service import Service
from screenalytics.service.operations import OPERATIONS, Caller
from screenalytics.service.policy import EditPolicy, PolicyGuard

INSTRUCTIONS = {
    "screenalytics": """Screenalytics: who is on screen in a TV episode, who speaks, and for how long.
Order of calls:
1. start_process_episode(video, facebank, episode_id) returns a job_id at once (processing takes minutes).
2. get_job(job_id, wait_s=25) until status is done (failed/cancelled: read error). timed_out=true only means
   "still running": call get_job again. cancel_job(job_id) stops it.
3. get_screen_time(episode_id): visual, speaking and overlap seconds per person, with confidence.
4. list_low_confidence(episode_id): tracks to review, with evidence (top two facebank people and their
   similarity, the margin, voice links, face chip URLs, seconds at stake).
5. assign_identity(episode_id, person_id, track_id | cluster_id | detection_id), lock_track,
   propagate_identity, merge_tracks, split_track fix mistakes; get_history lists edits.
   undo(episode_id) is a dry run by default: it returns confirm_token; call undo(episode_id,
   dry_run=false, confirm_token=...) to apply. Edits to locked rows (force=true) work the same way.
6. export_screen_time(episode_id, format, out) writes csv/json; promote_to_facebank adds reviewed faces.
Lists are paged: pass next_cursor back as cursor. Resources: screenalytics://episodes/{id}/screen_time
and screenalytics://episodes/{id}/report.""",
    "storage": """Screenalytics storage: the artifacts (frames, face chips, manifests, reports, facebank photos)
under the configured storage root. list_artifacts(prefix) -> keys (paged); signed_url(key) -> a short-lived
URL; purge(prefix, older_than_days) is a dry run by default: it lists the keys and returns confirm_token, then
purge(..., dry_run=false, confirm_token=...) deletes exactly those. Keys are relative to the root: '..',
absolute paths, other buckets and links that lead outside are refused.""",
    "analytics": """Screenalytics analytics: read-only SQL (DuckDB) over the result tables (detections, tracks,
assignments, screen_time, speech_segments, transcripts, av_links, ...) and the catalog (shows, seasons,
episodes, people, cast_membership). Start with list_tables and list_named_queries; run_named_query(name,
params) answers the common questions (screen time per person per season, speaking share, who appears with
whom); query(sql, params) runs one SELECT with parameters bound ($name or ?), with row, size and time limits.""",
}

SERVERS = tuple(INSTRUCTIONS)


def build_server(name: str, service: Service, policy: EditPolicy | None = None, actor: str | None = None) -> MCPServer:
    """The named server over ``service``; ``policy`` limits what its edit tools may change."""
    if name not in INSTRUCTIONS:
        raise InputError(f"unknown MCP server {name!r}: one of {', '.join(SERVERS)}")
    server = OneLineErrors(
        name=f"screenalytics-{name}" if name != "screenalytics" else "screenalytics",
        instructions=INSTRUCTIONS[name],
        version=__version__,
        log_level="WARNING",
    )
    caller = Caller(who=actor or service.settings.mcp.actor, guard=PolicyGuard(policy))
    for op in OPERATIONS.values():
        if op.server == name:
            add_operation(server, op, service, caller)
    if name == "screenalytics":
        _add_resources(server, service)
    return server


def _add_resources(server: MCPServer, service: Service) -> None:
    @server.resource(
        "screenalytics://episodes/{episode_id}/screen_time",
        name="screen_time",
        description="An episode's screen time per person (after review edits), as JSON",
        mime_type="application/json",
    )
    def screen_time(episode_id: str) -> str:
        return service.screen_time_summary(episode_id).model_dump_json(indent=2)

    @server.resource(
        "screenalytics://episodes/{episode_id}/report",
        name="report",
        description="A short Markdown report of an episode: screen time, speakers, what to review",
        mime_type="text/markdown",
    )
    def report(episode_id: str) -> str:
        return markdown_report(service, episode_id)


def markdown_report(service: Service, episode_id: str) -> str:
    summary = service.screen_time_summary(episode_id)
    queue = service.evidence(episode_id, chips=False)
    lines = [f"# Episode {episode_id}", "", "| person | visual s | speaking s | both s | confidence |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.person_id} | {r.visual_s:.1f} | {r.speaking_s:.1f} | {r.both_s:.1f} | {r.confidence:.2f} |" for r in summary.rows
    ]
    lines += ["", f"Unassigned visual time: {summary.unassigned_visual_s:.1f} s ({summary.unassigned_share:.0%}).", ""]
    lines += [f"{len(queue)} track(s) to review" + (":" if queue else ".")]
    lines += [f"- track {q.track_id} ({q.person_id}, {q.seconds:.1f} s): {'; '.join(q.reasons)}" for q in queue[:20]]
    return "\n".join(lines) + "\n"


def serve(
    name: str,
    config_file: Path | None = None,
    http: str | None = None,
    policy_file: Path | None = None,
    actor: str | None = None,
) -> None:
    """Run a server on stdio (the default) or streamable HTTP at HOST:PORT; logs go to stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    service = Service(config_file=config_file)
    policy = EditPolicy.load(policy_file) if policy_file else None
    server = build_server(name, service, policy, actor)
    if http is None:
        server.run("stdio")
        return
    host, _, port = http.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--http takes HOST:PORT, e.g. 127.0.0.1:8765 (got {http!r})")
    server.run("streamable-http", host=host, port=int(port))


def tool_list(name: str, service: Service) -> list[dict[str, Any]]:
    """The server's tools as plain data (names, annotations, input fields): the test snapshot."""
    import anyio

    server = build_server(name, service)
    tools = anyio.run(server.list_tools)
    return [
        {
            "name": t.name,
            "annotations": json.loads(t.annotations.model_dump_json(exclude_none=True)) if t.annotations else {},
            "inputs": sorted(t.input_schema.get("properties", {})),
            "required": sorted(t.input_schema.get("required", [])),
            "output": bool(t.output_schema),
        }
        for t in sorted(tools, key=lambda t: t.name)
    ]
