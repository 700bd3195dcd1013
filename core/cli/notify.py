"""`notify`: tell webhooks that an episode's screen time is ready."""

from __future__ import annotations

import click

from screenalytics.cli.app import cli, print_json, with_service
from screenalytics.service import Service
from screenalytics.service.notify import WebhookError


@cli.command("notify")
@click.argument("episode_id")
@click.option("--url", "urls", multiple=True, help="Webhook URL (repeatable) [default: plugins.webhook.urls].")
@with_service
def notify(service: Service, episode_id: str, urls: tuple[str, ...]) -> None:
    """POST the stored screen time of EPISODE_ID to webhooks and print the receipt (JSON).

    Signed with plugins.webhook.secret (set SCREENALYTICS_PLUGINS__WEBHOOK__SECRET), retried on
    5xx, timeouts and connection errors; a URL not delivered prints the receipt, then a one-line
    error, and exits 1.
    """
    try:
        receipt = service.notify(episode_id, list(urls) or None)
    except WebhookError as e:
        if e.receipt is not None:
            print_json(e.receipt)
        raise
    print_json(receipt)
