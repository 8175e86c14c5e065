"""Retention policy (pure): how long each event is kept, hot in the index and in the archive.

Rules are matched in order on the event's tenant and ECS ``event.category``; the first match
wins, otherwise the defaults apply (7 years archived, 90 days hot). A rule's ``name`` is the
archive *partition* its events are sealed into (``<tenant>/<name>/``), so every archive
object holds events of one class and carries one retain-until date. Events under no rule go
to partition ``0``.

A NATS-journal fleet may spread each tenant over P journal partitions (``journal.partitions``),
each sealed by its own writer into its own log: partition ``k > 0`` of retention class ``c``
is the log ``<tenant>/<c>.<k>`` (rule names hold no dot), partition 0 keeps the plain name.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pydantic import Field, model_validator

from auditseal.config import StrictModel

DEFAULT_PARTITION = "0"
SEVEN_YEARS_DAYS = 2557  # 7 × 365 + 2 leap days


class RetentionRule(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", description="archive partition of the matching events")
    tenants: list[str] = Field(default_factory=list, description="empty: every tenant")
    categories: list[str] = Field(default_factory=list, description="ECS event.category; empty: any")
    archive_days: int = Field(SEVEN_YEARS_DAYS, ge=1)
    index_days: int = Field(90, ge=1)

    def matches(self, tenant: str, categories: list[str]) -> bool:
        return (not self.tenants or tenant in self.tenants) and (
            not self.categories or any(c in self.categories for c in categories)
        )


class RetentionPolicy(StrictModel):
    archive_days: int = Field(SEVEN_YEARS_DAYS, ge=1, description="archive retention (Object Lock)")
    index_days: int = Field(90, ge=1, description="hot retention in the index (ILM delete phase)")
    rules: list[RetentionRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct_names(self) -> "RetentionPolicy":
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be distinct (each is an archive partition)")
        return self

    def rule_for(self, tenant: str, categories: list[str]) -> RetentionRule | None:
        return next((r for r in self.rules if r.matches(tenant, categories)), None)

    def partition(self, doc: dict) -> str:
        """The archive partition (retention class) of a stored event."""
        rule = self.rule_for(doc["organization"]["id"], categories_of(doc))
        return rule.name if rule else DEFAULT_PARTITION

    def archive_days_of(self, partition: str) -> int:
        name = retention_class(partition)
        rule = next((r for r in self.rules if r.name == name), None)
        return rule.archive_days if rule else self.archive_days

    def retain_until(self, partition: str, now: datetime | None = None) -> datetime:
        now = now or datetime.now(timezone.utc)
        return now + timedelta(days=self.archive_days_of(partition))

    def index_days_of(self, tenant: str) -> int:
        """Hot retention for a tenant: the longest of the rules naming it, else the default.

        The index keeps one retention per tenant data stream (ILM works per index), so a
        tenant's hot retention is the longest any of its classes asks for."""
        days = [r.index_days for r in self.rules if r.tenants and tenant in r.tenants]
        return max(days, default=self.index_days)


def shard_partition(retention_name: str, shard: int) -> str:
    """The log partition name of retention class ``retention_name`` in journal partition ``shard``."""
    return retention_name if shard == 0 else f"{retention_name}.{shard}"


def retention_class(partition: str) -> str:
    return partition.partition(".")[0]


def shard_of(partition: str) -> int:
    _, dot, shard = partition.partition(".")
    return int(shard) if dot and shard.isdigit() else 0


def categories_of(doc: dict) -> list[str]:
    event = doc.get("event")
    category = event.get("category") if isinstance(event, dict) else None
    if isinstance(category, str):
        return [category]
    # Anything else that is not a list of strings matches no category rule.
    return [c for c in category if isinstance(c, str)] if isinstance(category, list) else []
