"""Webhooks against a real HTTP server on 127.0.0.1: signatures a receiver can check, retries with
backoff on 5xx, timeouts and dead endpoints, none on 4xx, one Idempotency-Key per delivery, one-line
errors, and stored results left alone. No models: the episode is written straight into the store."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import REPO
from screenalytics.cli import cli
from screenalytics.errors import ConfigError, InputError
from screenalytics.model.records import ScreenTime
from screenalytics.service import Service
from screenalytics.service import notify as notify_module
from screenalytics.service.notify import EVENT_ANALYSED, EVENT_NOTIFY, WebhookError, WebhookOptions, backoff, check_url, redact
from screenalytics.service.operations import OPERATIONS, invoke

SECRET = "hunter2-webhook-secret"
ROWS = [ScreenTime("ana", 3.0, 1.5, 1.0, 0.9), ScreenTime("unknown_1", 0.5, 0.0, 0.0, 0.2)]


class Receiver:
    """A webhook endpoint: checks the signature as a receiver would (401 when wrong), counts attempts
    per Idempotency-Key, and answers each attempt as scripted: a status code, or "hang" (answer late)."""

    def __init__(self, secret: str | None, script: list[int | str], hang_s: float) -> None:
        self.secret, self.script, self.hang_s = secret, list(script), hang_s
        self.attempts: Counter[str] = Counter()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.attempts[headers.get("idempotency-key", "")] += 1
                    receiver.requests.append((headers, body))
                    action = receiver.script.pop(0) if receiver.script else 200
                if not receiver.verified(headers, body):
                    action = 401
                if action == "hang":
                    time.sleep(receiver.hang_s)
                    action = 200
                try:
                    self.send_response(int(action))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()  # quick shutdown
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def verified(self, headers: dict[str, str], body: bytes) -> bool:
        """Recompute the HMAC over the timestamp and the raw body, independently of the sender's code."""
        if self.secret is None:
            return True
        stamp = headers.get("x-screenalytics-timestamp", "")
        mac = hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return stamp.isdigit() and hmac.compare_digest(headers.get("x-screenalytics-signature", ""), f"sha256={mac}")

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(script: list[int | str] = (), secret: str | None = SECRET, hang_s: float = 1.0) -> Receiver:  # type: ignore[assignment]
        started.append(Receiver(secret, list(script), hang_s))
        return started[-1]

    yield start
    for r in started:
        r.close()


@pytest.fixture(autouse=True)
def webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret from the environment, as in production; tiny waits so retries are fast."""
    for key, value in {"SECRET": SECRET, "RETRIES": "2", "BACKOFF_S": "0.01", "TIMEOUT_S": "2"}.items():
        monkeypatch.setenv(f"SCREENALYTICS_PLUGINS__WEBHOOK__{key}", value)


def store_episode(episode_id: str = "ep", rows: list[ScreenTime] = ROWS, run_id: str = "r1") -> Service:
    svc = Service()
    svc.results.save_run(episode_id, run_id, {"screen_time": ScreenTime.to_table(rows, episode_id=episode_id, run_id=run_id)})
    return svc


def dead_url() -> str:
    """A port nobody listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# --- delivery --------------------------------------------------------------------------------------


def test_5xx_is_retried_with_the_same_key_then_delivered_signed(receiver) -> None:
    hook = receiver([503, 503])
    svc = store_episode()
    receipt = svc.notify("ep", [hook.url])
    assert receipt.delivered and receipt.event == EVENT_NOTIFY
    (d,) = receipt.deliveries
    assert (d.delivered, d.status_code, d.attempts, d.error) == (True, 200, 3, None)
    assert hook.attempts == {d.idempotency_key: 3}, "one key for every retry"
    assert len({body for _, body in hook.requests}) == 1, "the same body on every retry"
    headers, _ = hook.requests[-1]
    assert headers["content-type"] == "application/json" and re.fullmatch(r"screenalytics/\S+", headers["user-agent"])
    assert abs(int(headers["x-screenalytics-timestamp"]) - time.time()) < 60
    assert headers["x-screenalytics-signature"].startswith("sha256=")
    payload = hook.payloads()[-1]
    assert {k: payload[k] for k in ("event", "episode_id", "run_id", "duration_s")} == {
        "event": "episode.notify",
        "episode_id": "ep",
        "run_id": "r1",
        "duration_s": 0.0,
    }
    assert payload["screen_time"] == [
        {"person_id": "ana", "visual_s": 3.0, "speaking_s": 1.5, "both_s": 1.0, "confidence": 0.9},
        {"person_id": "unknown_1", "visual_s": 0.5, "speaking_s": 0.0, "both_s": 0.0, "confidence": 0.2},
    ]
    assert payload["report"] == {"key": "reports/unsorted/ep/report.html", "url": None}, "no report stored yet"
    assert payload["sent_at"] == receipt.sent_at and payload["sent_at"].endswith("+00:00")


def test_4xx_is_final_and_one_line(receiver) -> None:
    hook = receiver([400])
    with pytest.raises(WebhookError) as e:
        store_episode().notify("ep", [hook.url])
    message = str(e.value)
    assert "\n" not in message and hook.url in message and "HTTP 400" in message and "(1 attempt)" in message
    assert sum(hook.attempts.values()) == 1, "a 4xx is not retried"
    assert e.value.receipt is not None and e.value.receipt.deliveries[0].status_code == 400
    assert e.value.exit_code == 1


def test_a_wrong_signature_is_refused_and_not_retried(receiver) -> None:
    hook = receiver(secret="not-the-secret")
    with pytest.raises(WebhookError, match="HTTP 401"):
        store_episode().notify("ep", [hook.url])
    assert sum(hook.attempts.values()) == 1


def test_no_secret_no_signature(receiver, monkeypatch) -> None:
    monkeypatch.delenv("SCREENALYTICS_PLUGINS__WEBHOOK__SECRET")
    hook = receiver(secret=None)
    assert store_episode().notify("ep", [hook.url]).delivered
    assert "x-screenalytics-signature" not in hook.requests[0][0]


def test_a_hanging_endpoint_times_out_and_is_retried(receiver, monkeypatch) -> None:
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__TIMEOUT_S", "0.2")
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__RETRIES", "1")
    hook = receiver(["hang", "hang"], hang_s=1.0)
    started = time.monotonic()
    with pytest.raises(WebhookError, match=r"timed out after 0\.2 s \(2 attempts\)") as e:
        store_episode().notify("ep", [hook.url])
    assert time.monotonic() - started < 1.5 and sum(hook.attempts.values()) == 2
    assert e.value.receipt.deliveries[0].status_code is None


def test_a_dead_endpoint_is_a_one_line_error_and_the_store_is_untouched(receiver) -> None:
    svc = store_episode()
    before, status = svc.screen_time("ep"), svc.run_status("ep")
    url = dead_url()
    with pytest.raises(WebhookError) as e:
        svc.notify("ep", [url])
    message = str(e.value)
    assert "\n" not in message and url in message and "ConnectError" in message and "(3 attempts)" in message
    fresh = Service()
    assert fresh.screen_time("ep") == before and fresh.run_status("ep") == status


def test_one_dead_url_does_not_stop_the_others(receiver) -> None:
    hook, url = receiver(), dead_url()
    with pytest.raises(WebhookError) as e:
        store_episode().notify("ep", [url, hook.url])
    assert [d.delivered for d in e.value.receipt.deliveries] == [False, True] and sum(hook.attempts.values()) == 1
    assert url in str(e.value) and hook.url not in str(e.value)


def test_idempotency_key_is_stable_per_delivery(receiver) -> None:
    hook = receiver()
    svc = store_episode()
    first = svc.notify("ep", [hook.url]).deliveries[0].idempotency_key
    assert svc.notify("ep", [hook.url]).deliveries[0].idempotency_key == first, "a repeat is a duplicate to drop"
    other = svc.notify("ep", [hook.url + "?tenant=b"]).deliveries[0].idempotency_key
    store_episode(rows=[ScreenTime("ana", 2.0, 1.5, 1.0, 0.9)])  # a review edit: same run, new totals
    edited = svc.notify("ep", [hook.url]).deliveries[0].idempotency_key
    assert len({first, other, edited}) == 3 and hook.attempts[first] == 2


def test_backoff_doubles_and_is_capped() -> None:
    options = WebhookOptions(backoff_s=0.5, max_backoff_s=3)
    assert [backoff(options, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff(options, 1, hint=2) == 2 and backoff(options, 1, hint=60) == 3, "Retry-After, capped"


def test_429_and_408_are_retried(receiver) -> None:
    hook = receiver([429, 408])
    assert store_episode().notify("ep", [hook.url]).deliveries[0].attempts == 3


# --- the report link -------------------------------------------------------------------------------


def test_the_report_key_follows_the_catalog_and_gets_a_url_once_stored(receiver) -> None:
    hook = receiver()
    svc = store_episode("got-s01e01")
    svc.add_show("got", "Game of Thrones")
    svc.add_episode("got-s01e01", "got", 1, 1, "Winter Is Coming", None)
    assert svc.notify("got-s01e01", [hook.url]).report.model_dump() == {"key": "reports/got/S01E01/report.html", "url": None}
    svc.artifacts.put("reports/got/S01E01/report.html", b"<html></html>")
    report = svc.notify("got-s01e01", [hook.url]).report
    assert report.url and Path(report.url).read_bytes() == b"<html></html>"
    assert hook.payloads()[-1]["report"] == report.model_dump()


# --- the exporter, the CLI and the operation -------------------------------------------------------


def test_the_exporter_posts_and_writes_a_receipt(receiver, tmp_path, monkeypatch) -> None:
    hook = receiver([502])
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__URLS", hook.url)
    svc = store_episode()
    files = svc.export("ep", ["webhook"], tmp_path / "out").files
    assert files == [tmp_path / "out" / "webhook.json"]
    receipt = json.loads(files[0].read_text())
    assert receipt["event"] == EVENT_ANALYSED and receipt["delivered"] and receipt["deliveries"][0]["attempts"] == 2
    assert hook.payloads()[-1]["event"] == "episode.analysed" and SECRET not in files[0].read_text()


def test_a_failed_exporter_writes_its_receipt_then_fails_and_keeps_the_store(tmp_path, monkeypatch) -> None:
    url = dead_url()
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__URLS", json.dumps([url]))
    svc = store_episode()
    before = svc.screen_time("ep")
    with pytest.raises(WebhookError) as e:
        svc.export("ep", ["csv", "webhook"], tmp_path / "out")
    receipt_path = tmp_path / "out" / "webhook.json"
    assert str(e.value).endswith(f"; receipt: {receipt_path}") and "\n" not in str(e.value)
    assert e.value.files == [receipt_path] and (tmp_path / "out" / "screen_time.csv").exists()
    receipt = json.loads(receipt_path.read_text())
    assert not receipt["delivered"] and receipt["deliveries"][0]["url"] == url and receipt["deliveries"][0]["attempts"] == 3
    assert Service().screen_time("ep") == before


def test_the_exporter_without_urls_says_how_to_set_them(tmp_path) -> None:
    with pytest.raises(ConfigError, match="plugins.webhook.urls"):
        store_episode().export("ep", ["webhook"], tmp_path)


def test_cli_notify_prints_the_receipt(receiver, tmp_path) -> None:
    hook = receiver()
    store_episode()
    config = tmp_path / "c.yaml"
    config.write_text(f"plugins:\n  webhook:\n    urls: [{hook.url}]\n")
    result = CliRunner().invoke(cli, ["notify", "ep", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deliveries"][0]["status_code"] == 200 and sum(hook.attempts.values()) == 1

    url = dead_url()
    result = CliRunner().invoke(cli, ["notify", "ep", "--url", url, "--url", hook.url])
    assert result.exit_code == 1
    assert [d["delivered"] for d in json.loads(result.stdout)["deliveries"]] == [False, True], "the receipt, then the error"
    error = result.stderr.strip()
    assert error.startswith("error: webhook not delivered to") and url in error and "\n" not in error

    result = CliRunner().invoke(cli, ["notify", "nope", "--url", hook.url])
    assert result.exit_code == 1 and "unknown episode 'nope'" in result.stderr


def test_the_notify_operation(receiver) -> None:
    hook = receiver()
    op = OPERATIONS["notify"]
    assert op.server == "screenalytics" and not op.read_only and op.idempotent and not op.destructive
    out = invoke(store_episode(), "notify", {"episode_id": "ep", "urls": [hook.url]})
    assert out.delivered and out.deliveries[0].attempts == 1  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="not an http"):
        invoke(store_episode(), "notify", {"episode_id": "ep", "urls": ["ftp://example.com/x"]})


# --- settings and secrets --------------------------------------------------------------------------


def test_urls_from_the_environment_and_bad_values(monkeypatch) -> None:
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__URLS", "http://a.example/h, https://b.example/h")
    assert notify_module.webhook_options(Service().settings).urls == ["http://a.example/h", "https://b.example/h"]
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__URLS", "example.com/hook")
    with pytest.raises(ConfigError, match=r"plugins\.webhook\.urls: .*not an http\(s\) URL"):
        notify_module.webhook_options(Service().settings)
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__URLS", "")
    with pytest.raises(ConfigError, match="no webhook URL"):
        store_episode().notify("ep")


def test_redacted_urls() -> None:
    assert redact("https://me:pw@h.example:8443/x/y?token=abc&a=") == "https://me:***@h.example:8443/x/y?token=***&a=***"
    assert redact("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/hook"
    for bad in ("example.com/hook", "ftp://example.com/x", "http://[::1", "http://h:99999/", "https:///path"):
        with pytest.raises(ValueError, match="not an http"):
            check_url(bad)


def test_the_secret_never_shows(receiver, tmp_path, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    hook, url = receiver([503, 400]), dead_url()
    svc = store_episode()
    seen = []
    with pytest.raises(WebhookError) as e:
        svc.notify("ep", [hook.url, url])
    seen += [str(e.value), repr(e.value), e.value.receipt.model_dump_json(), caplog.text]
    seen.append(repr(notify_module.webhook_options(svc.settings)))
    monkeypatch.setenv("SCREENALYTICS_PLUGINS__WEBHOOK__URLS", url)
    with pytest.raises(WebhookError):
        Service().export("ep", ["webhook"], tmp_path)
    seen.append((tmp_path / "webhook.json").read_text())
    for args in (["notify", "ep", "--url", url], ["config"]):
        result = CliRunner().invoke(cli, args)
        seen += [result.stdout, result.stderr]
    assert "**********" in seen[-2], "config shows the secret masked"
    assert all(SECRET not in text for text in seen)
    assert all(SECRET not in json.dumps(h) for h, _ in hook.requests), "not even in what was sent"


def test_the_documented_verifier_accepts_what_is_sent(receiver) -> None:
    """The snippet in the module docstring (and README) is real code: run it on a real request."""
    snippet = re.search(r"::\n\n(.*?)\n\nand answers", notify_module.__doc__ or "", re.S)
    assert snippet
    scope: dict[str, Any] = {}
    exec(compile("\n".join(line[4:] for line in snippet.group(1).splitlines()), "docstring", "exec"), scope)
    hook = receiver()
    store_episode().notify("ep", [hook.url])
    headers, body = hook.requests[0]
    named = {"X-Screenalytics-Timestamp": headers["x-screenalytics-timestamp"]}
    named["X-Screenalytics-Signature"] = headers["x-screenalytics-signature"]
    assert scope["verify"](SECRET, named, body)
    assert not scope["verify"]("wrong", named, body) and not scope["verify"](SECRET, named, body + b" ")
    stale = {**named, "X-Screenalytics-Timestamp": str(int(named["X-Screenalytics-Timestamp"]) - 3600)}
    assert not scope["verify"](SECRET, stale, body)


def test_the_shipped_playbook_notifies_only_when_given_a_webhook(receiver, tmp_path) -> None:
    hook = receiver()
    store_episode()
    playbook = str(REPO / "playbooks" / "export-and-notify.yaml")
    base = ["playbook", "run", playbook, "--var", "episode_id=ep", "--var", f"out={tmp_path / 'out'}"]
    result = CliRunner().invoke(cli, [*base, "--var", f"webhook={hook.url}"])
    assert result.exit_code == 0, result.output
    assert [p["event"] for p in hook.payloads()] == ["episode.notify"] and hook.payloads()[0]["episode_id"] == "ep"
    assert CliRunner().invoke(cli, base).exit_code == 0 and len(hook.requests) == 1, "no webhook: the step is skipped"
    result = CliRunner().invoke(cli, [*base, "--var", f"webhook={dead_url()}"])
    assert result.exit_code == 3 and "webhook not delivered" in result.output, "a failed notify fails the step"
