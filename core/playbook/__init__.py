"""Playbooks: YAML lists of steps, each a named service operation (or an agent), run headless in CI.

``validate.check`` finds every problem before anything runs (``FILE:LINE:COL: message``);
``runner.run_playbook`` runs a checked playbook and returns a summary whose exit code never lies:
0 passed, 1 an assertion failed, 2 invalid, 3 a step failed.
"""

from screenalytics.playbook.expressions import ExpressionError, compile_expr
from screenalytics.playbook.loader import Problem
from screenalytics.playbook.model import Playbook, Step, schema, schema_text
from screenalytics.playbook.runner import ASSERTION_FAILED, INVALID, OK, STEP_FAILED, Summary, plan, run_playbook
from screenalytics.playbook.validate import Checked, PlaybookInvalid, check

__all__ = [
    "ASSERTION_FAILED",
    "INVALID",
    "OK",
    "STEP_FAILED",
    "Checked",
    "ExpressionError",
    "Playbook",
    "PlaybookInvalid",
    "Problem",
    "Step",
    "Summary",
    "check",
    "compile_expr",
    "plan",
    "run_playbook",
    "schema",
    "schema_text",
]
