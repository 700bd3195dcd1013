"""The artifact store: listing, signed URLs, purging by age, and schema migration."""

from __future__ import annotations

from screenalytics.config.settings import check_lifecycle_rule
from screenalytics.errors import ConfigError
from screenalytics.service.base import ServiceBase
from screenalytics.service.types import Keys, PurgeOutcome, PurgeResult, SignedUrl


class StorageOps(ServiceBase):
    def list_artifacts(self, prefix: str = "") -> Keys:
        return Keys(keys=self.artifacts.list(prefix))

    def signed_url(self, key: str, expires_s: int | None = None) -> SignedUrl:
        """A short-lived GET URL for an artifact (a file path on local storage)."""
        expires = expires_s or self.settings.storage.presign_expiry_s
        return SignedUrl(key=key, url=self.artifacts.url(key, expires), expires_s=expires)

    def purge(self, days: dict[str, int] | None = None, dry_run: bool = False) -> PurgeResult:
        """Delete artifacts older than N days under each prefix (storage.lifecycle_days by default).

        An empty prefix, negative days and the prefixes that are never purged (the result
        database, the facebank, the manifests) are refused before anything is listed.
        """
        rules = self.settings.storage.lifecycle_days if days is None else days
        for prefix, keep in rules.items():
            try:
                check_lifecycle_rule(prefix, keep)
            except ValueError as e:
                raise ConfigError(str(e)) from None
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
