"""The artifact store: listing, signed URLs, purging by age, and schema migration."""

from __future__ import annotations

from screenalytics.errors import ConfigError
from screenalytics.service.base import ServiceBase
from screenalytics.service.types import Keys, PurgeOutcome, PurgeResult, SignedUrl
from screenalytics.stores.location import DB_DIR


class StorageOps(ServiceBase):
    def list_artifacts(self, prefix: str = "") -> Keys:
        return Keys(keys=self.artifacts.list(prefix))

    def signed_url(self, key: str, expires_s: int | None = None) -> SignedUrl:
        """A short-lived GET URL for an artifact (a file path on local storage)."""
        expires = expires_s or self.settings.storage.presign_expiry_s
        return SignedUrl(key=key, url=self.artifacts.url(key, expires), expires_s=expires)

    def purge(self, days: dict[str, int] | None = None, dry_run: bool = False) -> PurgeResult:
        """Delete artifacts older than N days under each prefix (storage.lifecycle_days by default).

        The result database and whole-store prefixes are refused: purging never touches results.
        """
        rules = self.settings.storage.lifecycle_days if days is None else days
        for prefix, keep in rules.items():
            top = prefix.strip("/").split("/")[0]
            if not top or top == DB_DIR:
                raise ConfigError(f"refusing to purge {prefix!r}: name an artifact prefix such as frames/ or chips/")
            if keep < 0:
                raise ConfigError(f"lifecycle days for {prefix!r} must be 0 or more, not {keep}")
        return PurgeResult(keys=self.artifacts.apply_lifecycle(rules, dry_run=dry_run), dry_run=dry_run)

    def purge_confirmed(
        self, prefix: str, older_than_days: int, dry_run: bool = True, confirm: str | None = None
    ) -> PurgeOutcome:
        """Purge for unattended callers: a dry run lists the keys and returns a token; only the
        same call with that token deletes, and only if the keys are still exactly those."""
        from screenalytics.service.triage import ConfirmationRequired, confirm_token

        preview = self.purge({prefix: older_than_days}, dry_run=True)
        token = confirm_token("purge", {"prefix": prefix, "days": older_than_days}, "\n".join(preview.keys))
        if dry_run:
            return PurgeOutcome(keys=preview.keys, dry_run=True, confirm_token=token)
        if confirm != token:
            raise ConfirmationRequired(
                "purge needs the confirm_token of a dry run of this exact call (the keys may have changed since): preview again"
            )
        return PurgeOutcome(keys=self.purge({prefix: older_than_days}, dry_run=False).keys, dry_run=False)

    def migrate(self) -> tuple[int, int]:
        """Bring the result tables to the current schema; returns (before, after) versions."""
        before = self.results.schema_version()
        return before, self.results.migrate()
