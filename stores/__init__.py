"""Storage: LanceDB result tables and fsspec artifacts, on a local folder or S3."""

from screenalytics.stores.artifacts import ArtifactStore, open_artifacts
from screenalytics.stores.lance import ResultStore, open_results
from screenalytics.stores.location import StorageError

__all__ = ["ArtifactStore", "ResultStore", "StorageError", "open_artifacts", "open_results"]
