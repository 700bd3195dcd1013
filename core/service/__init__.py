"""The service layer: one set of typed operations behind every front door.

The CLI, Python callers, MCP servers and playbooks all call ``Service`` methods, so they give the
same results by construction. Requests and results are pydantic models (``service.types``).
"""

from screenalytics.service.analysis import AnalysisOps
from screenalytics.service.catalog import CatalogOps
from screenalytics.service.models import ModelOps
from screenalytics.service.review import ReviewOps
from screenalytics.service.storage import StorageOps
from screenalytics.service.types import AnalyseRequest, AnalyseResult


class Service(AnalysisOps, CatalogOps, ReviewOps, StorageOps, ModelOps):
    """Screenalytics' operations on one configuration: analyse, read, review, export, store."""


__all__ = ["AnalyseRequest", "AnalyseResult", "Service"]
