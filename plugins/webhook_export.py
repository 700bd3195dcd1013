"""Webhook exporter: POSTs a run's screen time to plugins.webhook.urls and writes webhook.json, the receipt.

Delivery (payload, signature, retries) lives in ``screenalytics.service.notify``, shared with
``screenalytics notify``; this module only adds the exporter's side: the event name, the receipt
file, and the one-line error once the receipt is written.
"""

from __future__ import annotations

from pathlib import Path

from screenalytics import hookimpl
from screenalytics.config import load_settings
from screenalytics.model.run import RunResult
from screenalytics.service.notify import EVENT_ANALYSED, RECEIPT, NotifyOps, WebhookOptions, failure


class WebhookExporter:
    """webhook.json: tells plugins.webhook.urls the run is done (signed, retried) and records what they answered."""

    name = "webhook"
    Options = WebhookOptions  # plugins.webhook; the secret from SCREENALYTICS_PLUGINS__WEBHOOK__SECRET

    def __init__(self, options: WebhookOptions) -> None:
        self.options = options

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        """Deliver, write the receipt, then raise WebhookError if a URL was not delivered: the run's
        files and stored rows are written before exporters run, so a dead endpoint loses nothing."""
        # During a run the context carries the run's settings; an export from the store has none, and
        # the store is then located from the environment and defaults.
        settings = result.context.settings if result.context is not None else load_settings()
        receipt = NotifyOps(settings).send_webhooks(result, EVENT_ANALYSED, self.options)
        path = out_dir / RECEIPT
        path.write_text(receipt.model_dump_json(indent=2) + "\n")
        error = failure(receipt, path)
        if error is not None:
            raise error
        return [path]


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(WebhookExporter)
