"""The service layer: one set of typed operations behind every front door.

The CLI, Python callers, MCP servers and playbooks all call ``Service`` methods, so they give the
same results by construction. Requests and results are pydantic models (``service.types``).
"""

from screenalytics.service.analysis import AnalysisOps
from screenalytics.service.analytics import AnalyticsOps
from screenalytics.service.catalog import CatalogOps
from screenalytics.service.jobs import JobOps
from screenalytics.service.models import ModelOps
from screenalytics.service.notify import NotifyOps
from screenalytics.service.reporting import ReportOps
from screenalytics.service.storage import StorageOps
from screenalytics.service.triage import TriageOps
from screenalytics.service.types import AnalyseRequest, AnalyseResult


class Service(AnalysisOps, JobOps, CatalogOps, TriageOps, StorageOps, AnalyticsOps, ModelOps, NotifyOps, ReportOps):
    """Screenalytics' operations on one configuration: analyse, read, review, export, store."""


__all__ = ["AnalyseRequest", "AnalyseResult", "Service"]
