"""Service operations as MCP tools: typed inputs and outputs, annotations, one-line errors,
progress notifications, and elicitation for confirmations where the client can answer it.

Each tool is generated from ``screenalytics.service.operations``: its parameters are the
operation's input fields, its output schema the operation's result model. The call runs in a
worker thread (the service is synchronous), so a long ``get_job`` wait never blocks the server.
"""

from __future__ import annotations

import inspect
import logging
from typing import Annotated, Any

import anyio
import anyio.from_thread
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from screenalytics.errors import ScreenalyticsError
from screenalytics.service.operations import Caller, Operation, invoke
from screenalytics.service.types import JobInfo

log = logging.getLogger("screenalytics.mcp")


class OneLineErrors(MCPServer):
    """An MCPServer whose tool errors are one line (argument validation included)."""

    async def _handle_call_tool(self, ctx: Any, params: Any) -> Any:
        result = await super()._handle_call_tool(ctx, params)
        if isinstance(result, CallToolResult) and result.is_error:
            text = " ".join(c.text for c in result.content if isinstance(c, TextContent))
            result = CallToolResult(content=[TextContent(type="text", text=one_line(text))], is_error=True)
        return result


def one_line(text: str) -> str:
    """Pydantic's multi-line reports folded into one line, without its documentation links."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "errors.pydantic.dev" not in ln]
    return " | ".join(lines)


class Confirm(BaseModel):
    confirm: bool = Field(description="apply it")


def add_operation(server: MCPServer, op: Operation, service: Any, caller: Caller) -> None:
    """Register ``op`` as a tool whose parameters are the fields of its input model."""
    params, annotations = [], {}
    for name, field in op.input.model_fields.items():
        ann = Annotated[(field.annotation, *field.metadata, Field(description=field.description))]  # type: ignore[valid-type]
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann))
        annotations[name] = ann
    params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
    if confirmable(op):  # asks the client (where it can answer) before a destructive call without a token
        ask = Annotated[ElicitationResult[Confirm], Resolve(_asker(op))]
        params.append(inspect.Parameter("confirmation", inspect.Parameter.KEYWORD_ONLY, annotation=ask))
        annotations["confirmation"] = ask

    async def tool(ctx: Context, confirmation: Any = None, **kwargs: Any) -> BaseModel:
        return await _call(op, service, caller, ctx, kwargs, confirmation)

    tool.__name__ = op.name
    tool.__signature__ = inspect.Signature(params, return_annotation=op.output)  # type: ignore[attr-defined]
    tool.__annotations__ = {**annotations, "ctx": Context, "return": op.output}
    server.add_tool(
        tool,
        name=op.name,
        description=op.description,
        annotations=ToolAnnotations(
            title=op.name.replace("_", " "),
            read_only_hint=op.read_only,
            destructive_hint=op.destructive,
            idempotent_hint=op.idempotent,
            open_world_hint=op.open_world,
        ),
        structured_output=True,
    )


def confirmable(op: Operation) -> bool:
    """Operations with a preview-then-confirm protocol (undo, purge, edits to locked rows)."""
    return {"dry_run", "confirm_token"} <= set(op.input.model_fields)


def _asker(op: Operation) -> Any:
    """The resolver that asks for confirmation when a destructive call would otherwise be refused."""
    guarded = "force" in op.input.model_fields

    async def ask(ctx: Context, dry_run: bool, confirm_token: str | None, **rest: Any) -> Any:
        destructive = not guarded or bool(rest.get("force"))
        if dry_run or confirm_token or not destructive or not _can_elicit(ctx):
            return None
        return Elicit(f"{op.name}: this cannot be taken back lightly. Apply it?", Confirm)

    names = ["dry_run", "confirm_token", *(["force"] if guarded else [])]
    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for n in names]
    ask.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    ask.__annotations__ = {"ctx": Context, **{n: Any for n in names}}
    return ask


async def _call(
    op: Operation, service: Any, caller: Caller, ctx: Context, kwargs: dict[str, Any], confirmation: Any = None
) -> BaseModel:
    def progress(info: JobInfo) -> None:
        message = f"{info.status}: {info.message}" + (f" ({info.stage} {info.done:.0f}/{info.total:.0f})" if info.stage else "")
        try:
            anyio.from_thread.run(ctx.report_progress, round(info.fraction * 100, 1), 100.0, message)
        except Exception:  # a client that stopped listening must not fail the call
            log.debug("progress notification not sent", exc_info=True)

    mine = Caller(who=caller.who, guard=caller.guard, on_job_update=progress)
    try:
        asked = confirmation is not None and not (isinstance(confirmation, AcceptedElicitation) and confirmation.data is None)
        if asked:
            if not (isinstance(confirmation, AcceptedElicitation) and confirmation.data.confirm):
                raise ToolError(f"{op.name}: not confirmed; nothing was changed")
            # confirmed by the person: take the preview's token and apply exactly that
            preview = await anyio.to_thread.run_sync(lambda: invoke(service, op.name, {**kwargs, "dry_run": True}, mine))
            kwargs = {**kwargs, "dry_run": False, "confirm_token": preview.confirm_token}  # type: ignore[attr-defined]
        return await anyio.to_thread.run_sync(lambda: invoke(service, op.name, kwargs, mine))
    except ToolError:
        raise
    except ScreenalyticsError as e:
        raise ToolError(str(e)) from None
    except Exception as e:
        log.exception("tool %s failed", op.name)
        raise ToolError(f"internal error ({type(e).__name__}): {one_line(str(e))}") from None


def _can_elicit(ctx: Context) -> bool:
    try:
        caps = ctx.client_capabilities
    except Exception:
        return False
    return bool(caps is not None and getattr(caps, "elicitation", None) is not None)
