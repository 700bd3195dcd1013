"""One storage location, local folder or S3, opened the same way for tables and artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from screenalytics.config import StorageConfig
from screenalytics.errors import ScreenalyticsError

DB_DIR = "lancedb"


class StorageError(ScreenalyticsError):
    """The store cannot be reached or refuses us; the message says which and why."""


@dataclass(frozen=True)
class Location:
    root: str  # "/abs/folder" or "s3://bucket/prefix"
    cfg: StorageConfig

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def child(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *[p.strip("/") for p in parts if p]])

    def _keys(self) -> tuple[str | None, str | None]:
        key = self.cfg.access_key_id or os.environ.get("AWS_ACCESS_KEY_ID")
        secret = (
            self.cfg.secret_access_key.get_secret_value()
            if self.cfg.secret_access_key
            else os.environ.get("AWS_SECRET_ACCESS_KEY")
        )
        return key, secret

    def lance_options(self) -> dict[str, str] | None:
        """storage_options for lancedb.connect (object_store client settings)."""
        if not self.is_s3:
            return None
        key, secret = self._keys()
        opts = {
            "aws_region": self.cfg.region,
            "connect_timeout": f"{self.cfg.timeout_s}s",
            "timeout": f"{self.cfg.timeout_s * 3}s",
            "client_max_retries": str(self.cfg.retries),
            "client_retry_timeout": str(int(self.cfg.timeout_s * 2)),
        }
        if key and secret:
            opts.update(aws_access_key_id=key, aws_secret_access_key=secret)
        if self.cfg.endpoint_url:
            opts["aws_endpoint"] = self.cfg.endpoint_url
            allow = self.cfg.allow_http if self.cfg.allow_http is not None else self.cfg.endpoint_url.startswith("http://")
            if allow:
                opts["allow_http"] = "true"
        return opts

    def filesystem(self) -> tuple[Any, str]:
        """(fsspec filesystem, root path inside it) for artifacts."""
        import fsspec

        if not self.is_s3:
            os.makedirs(self.root, exist_ok=True)
            return fsspec.filesystem("file", auto_mkdir=True), os.path.abspath(self.root)
        key, secret = self._keys()
        fs = fsspec.filesystem(
            "s3",
            key=key,
            secret=secret,
            endpoint_url=self.cfg.endpoint_url,
            client_kwargs={"region_name": self.cfg.region},
            config_kwargs={"connect_timeout": self.cfg.timeout_s, "retries": {"max_attempts": self.cfg.retries + 1}},
        )
        return fs, self.root[len("s3://") :].rstrip("/")


def location(cfg: StorageConfig, root: str) -> Location:
    root = root if root.startswith("s3://") else os.path.abspath(os.path.expanduser(root))
    return Location(root, cfg)


def explain(e: Exception, where: str) -> StorageError:
    """A one-line reason for a storage failure (server down, bad keys, missing bucket...)."""
    text = str(e)
    lowered = text.lower()
    refused = ("signaturedoesnotmatch", "signature we calculated", "invalidaccesskeyid", "accessdenied", "forbidden", "403")
    if any(s in lowered for s in refused):
        why = "the server refused the access keys (check SCREENALYTICS_STORAGE__ACCESS_KEY_ID / __SECRET_ACCESS_KEY)"
    elif "NoSuchBucket" in text:
        why = "the bucket does not exist"
    elif any(s in text for s in ("Connection refused", "connect", "Could not connect", "tcp connect", "dns error")):
        why = "the server cannot be reached (is it running? check storage.endpoint_url)"
    else:
        why = text.splitlines()[0][:300]
    return StorageError(f"storage at {where} is unavailable: {why}")
