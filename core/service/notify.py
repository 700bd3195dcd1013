"""Webhooks: tell another system that an episode's screen time is ready.

One place for the payload, the signature and the retries, used by the ``webhook`` exporter (event
``episode.analysed``, at the end of a run or by ``screenalytics export --format webhook``) and by
``screenalytics notify`` / the ``notify`` operation (event ``episode.notify``, from the store at
any time, so after review edits too). Settings: ``plugins.webhook`` (``WebhookOptions``); the
secret comes from the environment, ``SCREENALYTICS_PLUGINS__WEBHOOK__SECRET``, never a file.

Each delivery is a JSON POST with ``Content-Type: application/json``, ``User-Agent:
screenalytics/<version>``, ``X-Screenalytics-Timestamp`` (unix seconds), ``Idempotency-Key`` (the
same for every retry and every repeat of the same event for the same run, content and URL) and,
when a secret is set, ``X-Screenalytics-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
5xx, 408, 429, timeouts and connection errors are retried with exponential backoff; any other
answer is final. A receiver verifies like this (on the raw body bytes, before parsing the JSON)::

    import hashlib, hmac, time

    def verify(secret: str, headers, body: bytes, tolerance_s: int = 300) -> bool:
        stamp = headers.get("X-Screenalytics-Timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance_s:
            return False  # missing or stale: maybe a replayed request
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-Screenalytics-Signature", ""), "sha256=" + mac)

and answers 2xx at once, dropping a request whose ``Idempotency-Key`` it has already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from screenalytics import __version__
from screenalytics.config import Settings, format_validation_error
from screenalytics.errors import ConfigError, InputError, ScreenalyticsError
from screenalytics.model.run import RunResult
from screenalytics.service.base import ServiceBase
from screenalytics.stages.screentime import screen_time_row
from screenalytics.stores.artifacts import report_key
from screenalytics.stores.results import load_result

log = logging.getLogger(__name__)

EVENT_ANALYSED = "episode.analysed"  # the webhook exporter: a run (or an export) just finished
EVENT_NOTIFY = "episode.notify"  # `screenalytics notify`: the stored episode, on request
OPTIONS_KEY = "webhook"  # config section plugins.webhook, the webhook exporter's settings
RECEIPT = "webhook.json"
REPORT = "report.html"
RETRIED = {408, 429}  # besides every 5xx: the receiver asks to be tried again later


class WebhookError(ScreenalyticsError):
    """A webhook not delivered; ``receipt`` says what each URL answered, ``files`` what was written."""

    def __init__(self, message: str, receipt: NotifyResult | None = None, files: list[Path] | None = None) -> None:
        super().__init__(message)
        self.receipt = receipt
        self.files = files or []


def check_url(url: str) -> str:
    """An absolute http(s) URL, refused before anything is sent (a typo is not worth retrying)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        ok = False
    if not ok:
        raise ValueError(f"not an http(s) URL: {redact(url)!r}")
    return url


def redact(url: str) -> str:
    """The URL as receipts, logs and errors show it: without a password or query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.password is not None else (f"{parts.username}@" if parts.username else "")
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, user + host, parts.path, query, ""))


class WebhookOptions(BaseModel):
    """plugins.webhook: where to POST, how to sign, how long to try."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list, description="endpoints; in the environment a JSON list or comma-separated")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key; set SCREENALYTICS_PLUGINS__WEBHOOK__SECRET")
    timeout_s: float = Field(10.0, gt=0, description="per attempt (connect, send, wait for the answer)")
    retries: int = Field(3, ge=0, le=10, description="extra attempts after a 5xx, 408, 429, timeout or connection error")
    backoff_s: float = Field(1.0, ge=0, description="wait before the first retry, doubled for each next one")
    max_backoff_s: float = Field(30.0, ge=0, description="the longest wait between attempts (Retry-After included)")

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):  # an environment variable: one string
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [u.strip() for u in text.split(",") if u.strip()]
        return value

    @field_validator("urls")
    @classmethod
    def _check(cls, value: list[str]) -> list[str]:
        return [check_url(u) for u in value]

    @field_validator("secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        # an empty variable means no secret; a YAML number is still a key (and must not be echoed in an error)
        return None if value is None or value == "" else value if isinstance(value, SecretStr) else str(value)


def webhook_options(settings: Settings) -> WebhookOptions:
    """``plugins.webhook`` validated, read here so notify works whether or not the exporter is loaded."""
    try:
        return WebhookOptions.model_validate(settings.plugins.get(OPTIONS_KEY) or {})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"plugins.{OPTIONS_KEY}")) from None


class ReportLink(BaseModel):
    key: str = Field(description="artifact key of the episode's HTML report")
    url: str | None = Field(None, description="signed GET URL (a file path on local storage); null until the report is stored")


class Delivery(BaseModel):
    url: str = Field(description="the endpoint, password and query values hidden")
    delivered: bool
    status_code: int | None = Field(None, description="the last HTTP status; null when no answer came")
    attempts: int
    error: str | None = Field(None, description="why it was not delivered (the last attempt's answer or error)")
    idempotency_key: str


class NotifyResult(BaseModel):
    """The receipt of one notification: what was sent and what each URL answered."""

    event: str
    episode_id: str
    run_id: str
    sent_at: str
    report: ReportLink
    delivered: bool = Field(description="every URL answered 2xx")
    deliveries: list[Delivery]


# --- the pure parts: payload, signature, delivery --------------------------------------------------


def build_payload(event: str, result: RunResult, report: ReportLink, sent_at: str | None = None) -> dict[str, Any]:
    """The JSON body: totals per person as in screen_time.json, where the report is, when it was sent."""
    return {
        "event": event,
        "episode_id": result.episode_id,
        "run_id": result.run_id,
        "duration_s": round(result.video.duration_s, 3),
        "screen_time": [screen_time_row(r) for r in result.screen_time],
        "report": report.model_dump(),
        "sent_at": sent_at or datetime.now(UTC).isoformat(timespec="seconds"),
    }


def idempotency_key(payload: dict[str, Any], url: str) -> str:
    """Stable for the same event, episode, run, totals and URL: a retry or a repeated notify is a
    duplicate the receiver may drop, while totals changed by review edits make a new key."""
    totals = json.dumps(payload["screen_time"], sort_keys=True, separators=(",", ":"))
    seed = "\n".join((payload["event"], payload["episode_id"], payload["run_id"], url, totals))
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>``, so a replay with a new timestamp fails."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def headers_for(body: bytes, timestamp: str, key: str, secret: SecretStr | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"screenalytics/{__version__}",
        "X-Screenalytics-Timestamp": timestamp,
        "Idempotency-Key": key,
    }
    if secret is not None:
        headers["X-Screenalytics-Signature"] = sign(secret.get_secret_value(), timestamp, body)
    return headers


def retryable(status: int) -> bool:
    return status >= 500 or status in RETRIED


def backoff(options: WebhookOptions, attempt: int, hint: float | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: backoff_s doubled per retry, or the server's Retry-After, capped."""
    return min(options.max_backoff_s, max(hint or 0.0, options.backoff_s * 2 ** (attempt - 1)))


def deliver(
    client: httpx.Client,
    url: str,
    body: bytes,
    key: str,
    options: WebhookOptions,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``body`` to ``url`` until it answers 2xx, answers something final, or the retries run out.

    Each attempt is signed with its own timestamp (a receiver's freshness check holds across
    retries); the body and the Idempotency-Key stay the same. Never raises for a failed delivery.
    """
    shown = redact(url)
    status: int | None = None
    error = ""
    attempt = 0
    for attempt in range(1, options.retries + 2):
        hint = None
        try:
            answer = client.post(url, content=body, headers=headers_for(body, str(int(time.time())), key, options.secret))
        except httpx.TimeoutException:
            status, error = None, f"timed out after {options.timeout_s:g} s"
        except httpx.TransportError as e:
            status, error = None, _one_line(f"{type(e).__name__}: {e}")
        else:
            status = answer.status_code
            if answer.is_success:
                log.info("webhook %s: HTTP %d after %d attempt(s)", shown, status, attempt)
                return Delivery(url=shown, delivered=True, status_code=status, attempts=attempt, idempotency_key=key)
            error = _one_line(f"HTTP {status} {answer.reason_phrase} {answer.text[:100]}")
            if answer.is_redirect:
                error += " (redirects are not followed)"
            if not retryable(status):
                break
            hint = _retry_after(answer)
        if attempt > options.retries:
            break
        wait = backoff(options, attempt, hint)
        log.info("webhook %s: %s; retry %d of %d in %.3g s", shown, error, attempt, options.retries, wait)
        sleep(wait)
    log.info("webhook %s: not delivered after %d attempt(s): %s", shown, attempt, error)  # the caller reports it
    return Delivery(url=shown, delivered=False, status_code=status, attempts=attempt, error=error, idempotency_key=key)


def deliver_all(payload: dict[str, Any], urls: list[str], options: WebhookOptions) -> list[Delivery]:
    """The same body to every URL, one after the other, each with its own key and retries."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    with httpx.Client(timeout=options.timeout_s, follow_redirects=False) as client:
        return [deliver(client, url, body, idempotency_key(payload, url), options) for url in urls]


def failure(receipt: NotifyResult, where: Path | None = None) -> WebhookError | None:
    """One line naming each URL not delivered and why, or None when all were."""
    failed = [d for d in receipt.deliveries if not d.delivered]
    if not failed:
        return None
    what = "; ".join(f"{d.url}: {d.error} ({d.attempts} attempt{'s' if d.attempts != 1 else ''})" for d in failed)
    tail = f"; receipt: {where}" if where else ""
    return WebhookError(f"webhook not delivered to {what}{tail}", receipt, [where] if where else [])


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the service's side ------------------------------------------------------------------------------


class NotifyOps(ServiceBase):
    def report_link(self, episode_id: str) -> ReportLink:
        """Where the episode's HTML report lives: the key always, a signed URL once it is stored."""
        show, code = self.catalog.show_of(episode_id)
        key = report_key(show, code, REPORT)
        url = self.artifacts.url(key, self.settings.storage.presign_expiry_s) if self.artifacts.exists(key) else None
        return ReportLink(key=key, url=url)

    def send_webhooks(
        self, result: RunResult, event: str, options: WebhookOptions | None = None, urls: list[str] | None = None
    ) -> NotifyResult:
        """Deliver ``result``'s summary to ``urls`` (default: plugins.webhook.urls); the receipt says
        what each answered. Raises only for a setting that stops anything being sent."""
        options = options or webhook_options(self.settings)
        try:
            targets = [check_url(u) for u in urls] if urls else options.urls
        except ValueError as e:
            raise InputError(str(e)) from None
        if not targets:
            raise ConfigError(
                "no webhook URL: pass one (--url / urls) or set plugins.webhook.urls (SCREENALYTICS_PLUGINS__WEBHOOK__URLS)"
            )
        payload = build_payload(event, result, self.report_link(result.episode_id))
        deliveries = deliver_all(payload, targets, options)
        return NotifyResult(
            event=event,
            episode_id=result.episode_id,
            run_id=result.run_id,
            sent_at=payload["sent_at"],
            report=ReportLink(**payload["report"]),
            delivered=all(d.delivered for d in deliveries),
            deliveries=deliveries,
        )

    def notify(self, episode_id: str, urls: list[str] | None = None) -> NotifyResult:
        """POST the stored episode's screen time (review edits included) to webhooks; a URL not
        delivered is a WebhookError carrying the receipt. Nothing stored is changed."""
        if not self.results.count("screen_time", episode_id):
            raise InputError(f"unknown episode {episode_id!r}: nothing stored to notify about")
        receipt = self.send_webhooks(load_result(self.results, self.catalog, episode_id), EVENT_NOTIFY, urls=urls)
        error = failure(receipt)
        if error is not None:
            raise error
        return receipt
