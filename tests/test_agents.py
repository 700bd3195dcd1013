"""Agents through the real MCP server: a scripted model (no key, no network) drives the triage
profile over stdio against a really analysed episode, and the store shows what the server allowed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from click.testing import CliRunner

from conftest import FACES, make_facebank
from screenalytics.agents import Profile, list_profiles, load_profile, run_agent, run_agent_step
from screenalytics.agents.runner import effective_policy, resolve_model
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.errors import ConfigError
from screenalytics.service import AnalyseRequest, Service
from synth import ShotSpec, compose

TRIAGE_TOOLS = {"list_low_confidence", "get_screen_time", "get_history", "assign_identity"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no base URL, no tracing: nothing here may reach a model service."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SCREENALYTICS_AGENT_TRACING"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def episode(tmp_path, monkeypatch):
    """A short real episode (obama 0.8 s, then biden 0.6 s) analysed into the test's store."""
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 0.8, ["obama"]), ShotSpec(FACES / "biden.jpg", 0.6, ["biden"])])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"], "biden": ["biden2.jpg"]})
    monkeypatch.setenv("SCREENALYTICS_AUDIO__ENABLED", "false")  # the spawned servers see the same settings
    Service().analyse(AnalyseRequest(video=video, facebank=bank, out_dir=tmp_path / "out", episode_id="ep"))
    return "ep"


def outputs(call: ModelCall) -> dict[str, str]:
    """The tool results the model has been given so far, by call id."""
    found = {}
    for item in call.input if isinstance(call.input, list) else []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            out = item["output"]
            found[item["call_id"]] = out if isinstance(out, str) else " ".join(part.get("text", "") for part in out)
    return found


def triage_script(finish: bool = True) -> ScriptedModel:
    """A model that reads the real queue, then assigns every queued track its most similar person
    (locked or not, whatever the evidence: the server has to say no), then reports what it got."""

    def read_queue(call: ModelCall) -> Any:
        return [function_call("list_low_confidence", {"episode_id": "ep", "threshold": 1.01}, call_id="queue")]

    def assign_all(call: ModelCall) -> Any:
        queue = json.loads(outputs(call)["queue"])
        return [
            function_call(
                "assign_identity",
                {"episode_id": "ep", "track_id": q["track_id"], "person_id": q["candidates"][0]["person_id"], "reason": "best"},
                call_id=f"assign-{q['track_id']}",
            )
            for q in queue["items"]
        ]

    def summarise(call: ModelCall) -> Any:
        answers = {k: v for k, v in outputs(call).items() if k.startswith("assign-")}
        refused = sorted(k for k, v in answers.items() if "policy:" in v)
        return [assistant_message(f"assigned {len(answers) - len(refused)}, refused {', '.join(refused) or 'none'}")]

    steps = [ModelStep.respond(read_queue), ModelStep.respond(assign_all)]
    return ScriptedModel(steps + ([ModelStep.respond(summarise)] if finish else []))


def triage(**policy: Any) -> Profile:
    """The shipped triage profile with some policy values replaced."""
    shipped = load_profile("triage")
    return shipped.model_copy(update={"policy": shipped.policy.model_copy(update=policy)})


def queued(episode_id: str) -> list[int]:
    return [q.track_id for q in Service().evidence(episode_id, 1.01, chips=False)]


def test_triage_stops_at_max_changes(episode):
    service = Service()
    before = service.screen_time(episode)
    assert queued(episode) == [1, 2]
    model = triage_script()

    run = run_agent(service.settings, triage(max_changes=1), episode, model=model)

    assert model.first_call is not None and {t.name for t in model.first_call.tools} == TRIAGE_TOOLS
    assert "at most 1 change(s)" in (model.first_call.system_instructions or "")
    assert [(c.tool, c.arguments.get("track_id")) for c in run.tool_calls] == [
        ("list_low_confidence", None),
        ("assign_identity", 1),
        ("assign_identity", 2),
    ]
    first, second = run.tool_calls[1:]
    assert first.ok and first.applied and not second.ok and (second.error or "").startswith("policy: at most 1 change")
    assert run.changes_applied == 1 and run.proposals == 0 and run.stopped is None
    assert run.final_output == "assigned 1, refused assign-2"
    history = service.history(episode)
    assert [(h.who, h.op, json.loads(h.args)["track_id"]) for h in history] == [("agent:triage", "reassign_track", 1)]
    assert queued(episode) == [2], "the refused track is still waiting for a reviewer"
    after = service.screen_time(episode)
    assert [(r.person_id, r.visual_s) for r in after] == [(r.person_id, r.visual_s) for r in before]


def test_locked_and_dissimilar_tracks_are_refused(episode):
    service = Service()
    service.lock(episode, 1, who="reviewer")
    best_of_2 = next(q for q in service.evidence(episode, 1.01, chips=False) if q.track_id == 2).candidates[0].similarity
    profile = triage(min_similarity=round(best_of_2 + 0.01, 4), min_margin=None).model_copy(update={"max_turns": 2})

    run = run_agent(service.settings, profile, episode, model=triage_script(finish=False))

    assert run.stopped == "max_turns" and run.changes_applied == 0
    errors = {c.arguments["track_id"]: c.error or "" for c in run.tool_calls if c.tool == "assign_identity"}
    assert "policy: locked rows" in errors[1]
    assert f"policy: similarity {best_of_2:.3f} is below the minimum" in errors[2]
    assert [(h.who, h.op) for h in service.history(episode)] == [("reviewer", "lock")]
    assert queued(episode) == [1, 2]


def test_propose_only_writes_proposals_and_changes_nothing(episode, tmp_path):
    service = Service()
    before = service.screen_time(episode)
    proposals = tmp_path / "proposals.jsonl"

    run = run_agent(service.settings, "triage", episode, model=triage_script(), propose_only=True, proposals_file=proposals)

    assert run.propose_only and run.proposals == 2 and run.changes_applied == 0 and run.proposals_file == proposals
    assert all(c.ok and c.proposed and not c.applied for c in run.tool_calls if c.tool == "assign_identity")
    lines = [json.loads(line) for line in proposals.read_text().splitlines()]
    expected = [("reassign_track", 1, "obama"), ("reassign_track", 2, "biden")]
    assert [(p["op"], p["track_id"], p["person_id"]) for p in lines] == expected
    assert all(p["similarity"] >= 0.45 and p["margin"] >= 0.08 for p in lines)
    assert service.history(episode) == [] and queued(episode) == [1, 2]
    assert service.screen_time(episode) == before


def test_without_a_key_nothing_starts(monkeypatch):
    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a server was started")

    monkeypatch.setattr("screenalytics.agents.runner.MCPServerStdio", no_server)
    res = CliRunner().invoke(cli, ["agent", "run", "triage", "--episode", "ep"])
    assert res.exit_code == 1, res.output
    assert "set OPENAI_API_KEY (and agent.base_url / OPENAI_BASE_URL" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        run_agent_step(Service(), "triage", {"episode_id": "ep", "propose_only": True})


def test_profiles_and_model_choice(monkeypatch, tmp_path):
    assert {"triage", "export"} <= {p.name for p in list_profiles()}
    export = load_profile("export")
    assert export.policy.max_changes == 0 and "notify" in export.tools and "assign_identity" not in export.tools
    listed = CliRunner().invoke(cli, ["agent", "list"])
    assert listed.exit_code == 0 and "triage" in listed.output and "export" in listed.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninstructions: x\ntools: [get_screen_time, send_fax]\n")
    with pytest.raises(ConfigError, match="unknown tool 'send_fax'"):
        load_profile(bad)
    bad.write_text("name: bad\ninstructions: x\ntools: [purge]\n")
    with pytest.raises(ConfigError, match="storage server, which is not in servers"):
        load_profile(str(bad))
    with pytest.raises(ConfigError, match="unknown agent profile 'nope'; known: .*triage"):
        load_profile("nope")
    with pytest.raises(ConfigError, match="input nonsense: Extra inputs are not permitted"):
        run_agent_step(Service(), "triage", {"episode_id": "ep", "nonsense": 1})

    settings = load_settings(agent={"model": "from-settings"})
    profile = load_profile("triage")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    assert resolve_model(settings, profile, None).model == "from-settings"  # type: ignore[attr-defined]
    assert resolve_model(settings, profile.model_copy(update={"model": "from-profile"}), None).model == "from-profile"  # type: ignore[attr-defined]
    chosen = resolve_model(settings, profile.model_copy(update={"model": "from-profile"}), "from-flag")
    assert isinstance(chosen, OpenAIResponsesModel) and chosen.model == "from-flag"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert isinstance(resolve_model(settings, profile, None), OpenAIChatCompletionsModel)

    policy = effective_policy(profile, "ep", True, None)
    assert policy.propose_only and policy.proposals_file == Path("proposals-triage-ep.jsonl").resolve()
    assert policy.min_similarity == profile.policy.min_similarity and policy.max_changes == profile.policy.max_changes


def test_environment_reaches_the_servers_but_not_the_key(monkeypatch):
    """The servers get the caller's environment (storage, settings) explicitly, without the model key."""
    from screenalytics.agents.runner import _server

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    server = _server("screenalytics", load_settings(), load_profile("triage"), Path("/tmp/p.yaml"), Path("c.yaml"))
    env = server.params.env or {}
    assert env.get("SCREENALYTICS_STORAGE__URI") == os.environ["SCREENALYTICS_STORAGE__URI"] and "OPENAI_API_KEY" not in env
    assert server.params.args[-4:] == ["--actor", "agent:triage", "--config", str(Path("c.yaml").resolve())]
    assert server.client_session_timeout_seconds == load_settings().agent.tool_timeout_s
