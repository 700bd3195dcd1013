"""Agents driven by openai-agents through the real MCP servers, under a policy the server enforces.

``run_agent(settings, "triage", "ep")`` loads a profile (``playbooks/agents/<name>.yaml``), spawns
the MCP servers it names with its policy and runs the model until it is done; ``run_agent_step``
is the same for a playbook's ``agent:`` step. ``screenalytics agent run`` is the command line.
"""

from screenalytics.agents.profiles import Profile, list_profiles, load_profile
from screenalytics.agents.runner import AgentError, AgentRun, ToolCall, run_agent, run_agent_async, run_agent_step

__all__ = [
    "AgentError",
    "AgentRun",
    "Profile",
    "ToolCall",
    "list_profiles",
    "load_profile",
    "run_agent",
    "run_agent_async",
    "run_agent_step",
]
