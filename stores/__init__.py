"""Storage: LanceDB tables for results and embeddings."""

from screenalytics.stores.lance import ResultStore

__all__ = ["ResultStore"]
