"""One storage location, local folder or S3, opened the same way for tables and artifacts."""

from __future__ import annotations

import math
import os
import re
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
        """storage_options for lancedb.connect (object_store client settings): every request is
        bounded by storage.timeout_s and retried at most storage.retries times."""
        if not self.is_s3:
            return None
        key, secret = self._keys()
        timeout = f"{self.cfg.timeout_s:g}s"
        opts = {
            "aws_region": self.cfg.region,
            "connect_timeout": timeout,
            "timeout": timeout,  # the whole request: a server that accepts and never answers
            "client_max_retries": str(self.cfg.retries),
            "client_retry_timeout": str(max(1, math.ceil(self.cfg.timeout_s * (self.cfg.retries + 1)))),
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
        """(fsspec filesystem, root path inside it) for artifacts. On S3 every call waits at most
        storage.timeout_s to connect and to read, and is tried at most storage.retries + 1 times
        (botocore's retries only: s3fs' own retry loop, five more rounds, is turned off)."""
        import fsspec

        if not self.is_s3:
            try:
                os.makedirs(self.root, exist_ok=True)
            except OSError as e:
                raise StorageError(f"storage at {self.root} cannot be created: {e.strerror or e}") from None
            return fsspec.filesystem("file", auto_mkdir=True), os.path.abspath(self.root)
        key, secret = self._keys()
        fs = fsspec.filesystem(
            "s3",
            key=key,
            secret=secret,
            endpoint_url=self.cfg.endpoint_url,
            client_kwargs={"region_name": self.cfg.region},
            config_kwargs={
                "connect_timeout": self.cfg.timeout_s,
                "read_timeout": self.cfg.timeout_s,
                "retries": {"max_attempts": self.cfg.retries + 1, "mode": "standard"},
            },
        )
        fs.retries = 1  # s3fs' loop: one round, the bounded retries above happen inside it
        return fs, self.bucket_path()

    def bucket_path(self) -> str:
        """``bucket/prefix`` of an S3 root."""
        return self.root[len("s3://") :].rstrip("/")

    def check_reachable(self, fs: Any | None = None) -> None:
        """One bounded request (S3: list at most one key under the root) that fails in about
        storage.timeout_s with a one-line reason when the server is down or hung, refuses the
        keys, or has no such bucket; nothing for a local folder."""
        if not self.is_s3:
            return
        fs = fs or self.filesystem()[0]
        bucket, _, prefix = self.bucket_path().partition("/")
        try:
            fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=prefix.rstrip("/") + "/" if prefix else "", MaxKeys=1)
        except Exception as e:
            raise explain(e, self.root) from None


def location(cfg: StorageConfig, root: str) -> Location:
    root = root if root.startswith("s3://") else os.path.abspath(os.path.expanduser(root))
    return Location(root, cfg)


HTTP_403 = re.compile(r"\(403\)|403 forbidden|status(?: code)?:? ?403|http(?:/[\d.]+)? 403")  # not digits in a path


def explain(e: Exception, where: str) -> StorageError:
    """A one-line reason for a storage failure (server down, bad keys, missing bucket...)."""
    if isinstance(e, StorageError):
        return e
    text = str(e) or type(e).__name__
    lowered = text.lower()
    refused = ("signaturedoesnotmatch", "signature we calculated", "invalidaccesskeyid", "accessdenied", "forbidden")
    local = isinstance(e, PermissionError) or "read-only file system" in lowered or "permission denied" in lowered
    if any(s in lowered for s in refused) or (not local and HTTP_403.search(lowered)):
        why = "the server refused the access keys (check SCREENALYTICS_STORAGE__ACCESS_KEY_ID / __SECRET_ACCESS_KEY)"
    elif "nosuchbucket" in lowered or "bucket does not exist" in lowered:
        why = "the bucket does not exist"
    elif any(s in lowered for s in ("connection refused", "kind: connect", "could not connect", "tcp connect", "dns error")):
        why = "the server cannot be reached (is it running? check storage.endpoint_url)"
    elif isinstance(e, TimeoutError) or any(s in lowered for s in ("timed out", "timedout", "read timeout", "connect timeout")):
        why = "the server did not answer within storage.timeout_s (is it hung or overloaded?)"
    elif "connect" in lowered:
        why = "the server cannot be reached (is it running? check storage.endpoint_url)"
    elif "no space left" in lowered or "os error 28" in lowered:
        why = "No space left on device"
    elif "was not found" in lowered or ("not found" in lowered and ".lance" in lowered):
        why = f"a table is missing or has lost files ({text.splitlines()[0][:200]})"
    elif local:
        why = f"it is not writable ({e.strerror if isinstance(e, OSError) and e.strerror else text.splitlines()[0][:200]})"
    else:
        why = text.splitlines()[0][:300]
    return StorageError(f"storage at {where} is unavailable: {why}")
