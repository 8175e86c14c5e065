"""Agent configuration model (strict: unknown keys are errors with file and line)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

import glob
import zoneinfo

from pydantic import Field, field_validator, model_validator

from auditseal.config import Listen, StrictModel, read_with_dropins, read_yaml, validate
from auditseal.formats.storable import TENANT_RE

TENANT_PATTERN = TENANT_RE.pattern
TIMEZONE_HELP = "IANA zone (Europe/Berlin) of times written without one (syslog's Mmm dd hh:mm:ss); UTC by default"


def _known_zone(name: str) -> str:
    if name.upper() == "UTC":
        return "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or UTC)") from exc
    return name


class AgentIdentity(StrictModel):
    id: str = Field(min_length=1, description="agent id; must match the agent certificate")
    state_dir: Path = Path("/var/lib/auditseal/agent")


class FileInput(StrictModel):
    type: Literal["file"]
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    paths: list[str] = Field(min_length=1, description="glob patterns of the files to tail")
    format: Literal["json", "auth", "auditd"] = Field(
        "json", description="json: ECS JSON lines; auth: sshd/PAM/sudo syslog lines; auditd: audit.log"
    )
    field_map: dict[str, str] = Field(
        default_factory=dict, description="json only: source field (dotted) → ECS field (dotted)"
    )
    tenant: str | None = Field(None, pattern=TENANT_PATTERN, description="organization.id for events that name none")
    timezone: str = Field("UTC", description=TIMEZONE_HELP)
    keep_original: Literal["lossy", "always", "refuse"] = Field(
        "lossy",
        description="json only: keep the line in event.original when parsing it would lose information "
        "(numbers beyond 64-bit or double precision, duplicate keys), always, or refuse such lines",
    )
    poll_interval: float = Field(0.25, gt=0, le=60)
    read_chunk_bytes: int = Field(128 * 1024, ge=4096)
    max_line_bytes: int = Field(256 * 1024, ge=256)
    close_inactive: float = Field(5.0, gt=0, description="release a rotated-away file this long after EOF")
    partial_line_timeout: float = Field(
        10.0, gt=0, description="ship a last line without newline after this quiet time"
    )
    copy_grace: float = Field(
        1.0, ge=0, description="how long a new file that starts like a live one may be a copytruncate copy"
    )

    _zone = field_validator("timezone")(_known_zone)


class SyslogTls(StrictModel):
    listen: Listen
    cert: Path
    key: Path
    client_ca: Path | None = None
    require_client_cert: bool = False


class SyslogInput(StrictModel):
    type: Literal["syslog"]
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    tenant: str = Field(pattern=TENANT_PATTERN, description="organization.id of every message received")
    timezone: str = Field("UTC", description=TIMEZONE_HELP)
    udp: Listen | None = Field(None, description="host:port")
    tcp: Listen | None = Field(None, description="host:port; octet counting and LF framing both accepted")
    tls: SyslogTls | None = None
    unix: str | None = Field(None, description="path of a unix datagram socket")
    max_message_bytes: int = Field(
        128 * 1024, ge=480, le=1024 * 1024, description="longer messages are cut and flagged (labels.truncated)"
    )
    queue_messages: int = Field(10_000, ge=100, description="messages held before UDP drops (counted)")
    batch_messages: int = Field(2000, ge=1)
    batch_wait: float = Field(0.05, gt=0, le=5)

    _zone = field_validator("timezone")(_known_zone)

    @model_validator(mode="after")
    def _some_listener(self):
        if not (self.udp or self.tcp or self.tls or self.unix):
            raise ValueError("a syslog input needs at least one of udp, tcp, tls, unix")
        return self


InputConfig = Annotated[Union[FileInput, SyslogInput], Field(discriminator="type")]


class SpoolConfig(StrictModel):
    max_segment_bytes: int = Field(32 * 1024 * 1024, ge=64 * 1024)
    max_bytes: int = Field(
        1024 * 1024 * 1024, ge=256 * 1024, description="bound on the spool; inputs pause (UDP drops, counted) beyond it"
    )


class BatchConfig(StrictModel):
    max_events: int = Field(5000, ge=1, le=50_000)
    max_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=8 * 1024 * 1024)
    max_age: float = Field(1.0, gt=0, le=300)


class TlsFiles(StrictModel):
    cert: Path
    key: Path
    ca: Path


class BackoffConfig(StrictModel):
    initial: float = Field(0.5, gt=0)
    max: float = Field(30.0, gt=0)


class OutputConfig(StrictModel):
    collectors: list[str] = Field(min_length=1, description="https://host:port URLs, tried in order")
    tls: TlsFiles
    hmac_key_file: Path
    timeout: float = Field(30.0, gt=0)
    backoff: BackoffConfig = BackoffConfig()
    pipelining: int = Field(
        1,
        ge=1,
        le=8,
        description="batches in flight before the first is acknowledged, each on its own connection "
        "(as Filebeat's pipelining); 2-4 for a collector across a WAN (round trips of 20 ms and more)",
    )


class InputsFile(StrictModel):
    """A drop-in file of ``include_inputs``: more inputs, nothing else."""

    inputs: list[InputConfig] = Field(min_length=1)


class AgentConfig(StrictModel):
    agent: AgentIdentity
    include_inputs: str | None = Field(
        None,
        description="glob of drop-in files (relative to this file's folder), each with an inputs: list, "
        "as Filebeat's inputs.d: packages and config management add inputs without editing this file",
    )
    inputs: list[InputConfig] = Field(min_length=1)
    spool: SpoolConfig = SpoolConfig()
    batch: BatchConfig = BatchConfig()
    output: OutputConfig
    metrics_listen: Listen | None = Field(None, description="host:port for /metrics, off when unset")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _unique_input_names(self):
        names = [i.name for i in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"input names must be unique: {', '.join(dupes)}")
        return self


def load(path: str | Path, config_dir: str | Path | None = None) -> AgentConfig:
    """The config merged with the drop-ins of ``config_dir`` (``--config-dir``: any keys; more
    ``inputs`` append), then the inputs of ``include_inputs`` files after its own; an error in a
    drop-in names that file and line."""
    main = Path(path)
    data, lines = read_with_dropins(main, config_dir, appendable={("inputs",)})
    pattern = data.get("include_inputs") if isinstance(data, dict) else None
    if isinstance(pattern, str) and pattern:
        full = pattern if Path(pattern).is_absolute() else str(main.parent / pattern)
        for name in sorted(glob.glob(full)):
            extra, extra_lines = read_yaml(Path(name))
            validate(InputsFile, extra, extra_lines, name)  # its own errors, its own lines
            if not isinstance(data.get("inputs"), list):
                data["inputs"] = []
            data["inputs"] = [*data["inputs"], *extra["inputs"]]
    return validate(AgentConfig, data, lines, str(path))
