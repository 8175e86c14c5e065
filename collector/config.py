"""Collector configuration model (strict: unknown keys are errors with file and line)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from auditseal.config import Listen, StrictModel, load_config
from auditseal.formats.wire import Limits
from auditseal.rules.model import Duration

from .channels.pagerduty import PagerDutyConfig
from .channels.slack import SlackConfig
from .channels.webhook import WebhookConfig
from .retention import RetentionPolicy


class Identity(StrictModel):
    id: str = Field("collector-1", min_length=1)
    data_dir: Path = Path("/var/lib/auditseal/collector")


class IngestTls(StrictModel):
    cert: Path
    key: Path
    client_ca: Path


class LimitsConfig(StrictModel):
    max_body_bytes: int = Field(Limits.max_body_bytes, ge=1024)
    max_decompressed_bytes: int = Field(Limits.max_decompressed_bytes, ge=1024)
    max_ratio: int = Field(Limits.max_ratio, ge=2)
    max_events: int = Field(Limits.max_events, ge=1)
    max_event_bytes: int = Field(Limits.max_event_bytes, ge=256)
    max_skew_seconds: int = Field(Limits.max_skew_seconds, ge=1)

    def limits(self) -> Limits:
        return Limits(**self.model_dump())


class IngestConfig(StrictModel):
    listen: Listen = "0.0.0.0:9443"
    tls: IngestTls
    hmac_keys_file: Path
    limits: LimitsConfig = LimitsConfig()
    tls_handshake_timeout: float = Field(10.0, gt=0, le=300, description="TLS handshake bound, seconds")
    header_timeout: float = Field(
        10.0, gt=0, le=300, description="a connection's first request headers must arrive within this"
    )
    body_timeout: float = Field(30.0, gt=0, le=3600, description="a request body must arrive within this")
    keepalive_timeout: float = Field(15.0, gt=0, le=3600, description="idle kept-alive connections close")
    follows_wait: float = Field(
        5.0,
        ge=0,
        le=60,
        description="a batch an agent sent behind another (pipelining) that arrives first waits this long "
        "for that one to be stored, then is refused (409 too_early) and resent by the agent",
    )


class JournalConfig(StrictModel):
    """The embedded default: fsynced segment files in ``<data_dir>/journal``."""

    type: Literal["local"] = "local"
    max_segment_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)
    max_bytes: int = Field(
        16 * 1024**3, ge=1024 * 1024, description="when sinks lag this far behind, ingest answers 503"
    )


class NatsJournalConfig(StrictModel):
    """A NATS JetStream stream shared by every collector (the scaled deployment)."""

    type: Literal["nats"]
    servers: list[str] = Field(min_length=1, description="nats://host:port of the cluster's nodes")
    stream: str = Field("AUDITSEAL", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    subject_prefix: str = Field("auditseal.journal", pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
    replicas: int = Field(3, ge=1, le=5, description="stream replicas; start-up refuses a stream with fewer")
    max_bytes: int = Field(
        16 * 1024**3, ge=1024 * 1024, description="stream bound: when sinks lag this far, ingest answers 503"
    )
    duplicate_window: float = Field(120.0, gt=0, le=86400, description="JetStream's Nats-Msg-Id window, seconds")
    connect_timeout: float = Field(2.0, gt=0, le=60)
    publish_timeout: float = Field(5.0, gt=0, le=60, description="an unacknowledged publish fails after this")
    start_timeout: float = Field(60.0, gt=0, le=3600, description="how long start-up waits for the cluster")
    fetch_batch: int = Field(64, ge=1, le=4096)
    fetch_wait: float = Field(0.2, gt=0, le=5)
    purge_every: int = Field(256, ge=1, description="messages every sink has passed before they are purged")
    lease_ttl: float = Field(6.0, ge=1, le=300, description="a lease lapses this long after its holder dies")
    shared_ack_wait: float = Field(
        30.0, ge=1, le=3600, description="a shared index worker that died: its messages go to another after this"
    )
    partitions: int = Field(
        1,
        ge=1,
        le=64,
        description="journal partitions: agents hash to one; each has its own sealer (lease) and Merkle logs; "
        "fixed when the stream is created",
    )


def _journal_type(value) -> str:
    return value.get("type", "local") if isinstance(value, dict) else getattr(value, "type", "local")


class SqliteIndexConfig(StrictModel):
    type: Literal["sqlite"] = "sqlite"
    path: Path | None = Field(None, description="default: <data_dir>/index.sqlite")
    own_process: bool = Field(
        True, description="index in a worker process of its own (a second core); false: on a thread of the collector"
    )


class ArchiveCommon(StrictModel):
    signing_key: Path = Field(description="Ed25519 checkpoint signing key (auditseal keys init)")
    encryption_key: Path | None = Field(
        None, description="AES-256-GCM archive key file (auditseal keys archive-key); segments stored encrypted"
    )
    segment_max_events: int = Field(50_000, ge=1)
    segment_max_age: float = Field(5.0, gt=0)
    checkpoint_interval: float = Field(3600.0, gt=0, le=3600, description="idle logs are re-checkpointed this often")


class ElasticsearchIndexConfig(StrictModel):
    """Elasticsearch 8.x (or 7.17+ with compatibility). Secrets are read from files."""

    type: Literal["elasticsearch"]
    hosts: list[str] = Field(min_length=1)
    api_key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: float = Field(30.0, gt=0)
    bulk_max_events: int = Field(5000, ge=1, le=100_000)
    item_retries: int = Field(8, ge=0, description="retries of 429/5xx items before the batch is replayed")


class LocalArchiveConfig(ArchiveCommon):
    type: Literal["local"] = "local"
    path: Path | None = Field(None, description="default: <data_dir>/archive")


class S3ArchiveConfig(ArchiveCommon):
    """S3 with Object Lock (COMPLIANCE). Credentials come from the standard AWS chain
    (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from here."""

    type: Literal["s3"]
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field("", description="key prefix inside the bucket")
    endpoint_url: str | None = Field(None, description="non-AWS S3 (Ceph RGW, MinIO); default AWS")
    region: str | None = None
    path_style: bool = True
    sse_kms_key_id: str | None = Field(None, description="SSE-KMS key id; default the bucket's encryption")
    # Bigger, rarer objects than the local default: fewer PUTs and ≥ 128 KiB objects for the
    # cold storage classes; the journal holds events durably meanwhile.
    segment_max_events: int = Field(100_000, ge=1)
    segment_max_age: float = Field(30.0, gt=0)


def _index_type(value) -> str:
    return value.get("type", "sqlite") if isinstance(value, dict) else getattr(value, "type", "sqlite")


def _archive_type(value) -> str:
    """``type`` picks the archive model; a local archive may leave it out."""
    return value.get("type", "local") if isinstance(value, dict) else getattr(value, "type", "local")


class VerifyConfig(StrictModel):
    interval: float = Field(3600.0, gt=0, description="seconds between self-verifications of the archive")


JwtAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class OidcConfig(StrictModel):
    """OIDC bearer JWTs (``admin.oidc``); asymmetric algorithms only."""

    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    jwks_file: Path | None = None
    jwks_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    algorithms: list[JwtAlgorithm] = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"], min_length=1)
    roles_claim: str = "auditseal_roles"
    tenants_claim: str = "auditseal_tenants"
    leeway: float = Field(30.0, ge=0, le=300, description="seconds of clock skew allowed on exp/nbf/iat")
    jwks_refresh: float = Field(300.0, ge=10, description="seconds between fetches of jwks_url")

    @model_validator(mode="after")
    def _one_jwks(self):
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks_file or jwks_url")
        return self


class RateLimitConfig(StrictModel):
    per_second: float = Field(20.0, gt=0, description="sustained admin calls per second per credential")
    burst: int = Field(200, ge=1, description="calls a credential may make at once")


class AdminConfig(StrictModel):
    listen: Listen = "127.0.0.1:9444"
    token_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, description="SHA-256 (lowercase hex, quoted) of each admin-role bearer token"
    )
    token_store: Path | None = Field(
        None, description="tokens made with `auditseal token create` (default <data_dir>/tokens.sqlite)"
    )
    oidc: OidcConfig | None = None
    rate_limit: RateLimitConfig = RateLimitConfig()
    audit_tenant: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = Field(
        "auditseal", description="the log of admin calls that name no tenant (and of refusals)"
    )


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


Zone = Annotated[str, AfterValidator(_zone)]
ChannelConfig = Annotated[WebhookConfig | SlackConfig | PagerDutyConfig, Field(discriminator="type")]


class AlertingConfig(StrictModel):
    rules_dir: Path | None = Field(None, description="directory of rule files; without it the built-in rules only")
    lateness: Duration = Field(300_000, ge=0, description="events older than the newest seen minus this are skipped")
    default_time_zone: Zone = "UTC"
    time_zones: dict[str, Zone] = Field(default_factory=dict, description="tenant → IANA zone (off-hours rules)")
    channels: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")], ChannelConfig] = Field(
        default_factory=dict
    )
    default_channels: list[str] | None = Field(
        None, description="channels of rules that name none (default: every channel)"
    )
    snapshot_interval: float = Field(
        5.0, gt=0, le=300, description="seconds between engine state snapshots (a crash replays at most this much)"
    )

    @model_validator(mode="after")
    def _known_defaults(self):
        for name in self.default_channels or []:
            if name not in self.channels:
                raise ValueError(f"default_channels: {name!r} is not a configured channel")
        return self

    def defaults(self) -> list[str]:
        return list(self.channels) if self.default_channels is None else list(self.default_channels)

    def channels_for(self, rule) -> list[str]:
        return list(rule.channels) if rule.channels else self.defaults()


class CollectorConfig(StrictModel):
    collector: Identity = Identity()
    ingest: IngestConfig
    journal: Annotated[
        Annotated[JournalConfig, Tag("local")] | Annotated[NatsJournalConfig, Tag("nats")],
        Discriminator(_journal_type),
    ] = JournalConfig()
    index: Annotated[
        Annotated[SqliteIndexConfig, Tag("sqlite")] | Annotated[ElasticsearchIndexConfig, Tag("elasticsearch")],
        Discriminator(_index_type),
    ] = SqliteIndexConfig()
    archive: Annotated[
        Annotated[LocalArchiveConfig, Tag("local")] | Annotated[S3ArchiveConfig, Tag("s3")],
        Discriminator(_archive_type),
    ]
    retention: RetentionPolicy = RetentionPolicy()
    verify: VerifyConfig = VerifyConfig()
    admin: AdminConfig = AdminConfig()
    alerting: AlertingConfig = AlertingConfig()
    log_level: Literal["debug", "info", "warning", "error"] = "info"


def load(path: str | Path, config_dir: str | Path | None = None) -> CollectorConfig:
    """The config merged with the drop-ins of ``config_dir`` (retention rules append)."""
    return load_config(CollectorConfig, path, config_dir, appendable={("retention", "rules")})


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)
