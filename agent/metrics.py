"""The agent's Prometheus metrics (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from auditseal.observability import Registry, zero


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = Registry("agent")
        r = self.registry
        self.lines_read = Counter("auditseal_agent_lines_read", "Lines read by input", ["input"], registry=r)
        self.malformed = Counter(
            "auditseal_agent_malformed_lines", "Lines dead-lettered, by reason", ["input", "reason"], registry=r
        )
        self.truncations = Counter("auditseal_agent_file_truncations", "Files seen truncated", ["input"], registry=r)
        self.syslog_messages = Counter(
            "auditseal_agent_syslog_messages", "Syslog messages received", ["input", "transport"], registry=r
        )
        self.syslog_dropped = Counter(
            "auditseal_agent_syslog_udp_dropped",
            "UDP/unix datagrams dropped because the agent was saturated",
            ["input"],
            registry=r,
        )
        self.syslog_udp_kernel_drops = Gauge(
            "auditseal_agent_syslog_udp_kernel_drops",
            "Datagrams the kernel dropped for the UDP socket",
            ["input"],
            registry=r,
        )
        self.syslog_rejected = Counter(
            "auditseal_agent_syslog_rejected", "Syslog streams refused, by reason", ["input", "reason"], registry=r
        )
        self.spooled = Counter("auditseal_agent_events_spooled", "Events written to the spool", registry=r)
        self.shipped = Counter("auditseal_agent_events_acked", "Events acknowledged by a collector", registry=r)
        self.batches = Counter("auditseal_agent_batches", "Batches by result", ["result"], registry=r)
        self.in_flight = Gauge(
            "auditseal_agent_batches_in_flight", "Batches sent and not yet acknowledged (output.pipelining)", registry=r
        )
        self.rejected_events = Counter(
            "auditseal_agent_rejected_events",
            "Events the collector refused alone, by its reason",
            ["reason"],
            registry=r,
        )
        self.dead_batches = Counter(
            "auditseal_agent_dead_letter_batches",
            "Batches a collector refused for good, kept in dead-letter/",
            ["status"],
            registry=r,
        )
        self.disk_full = Counter(
            "auditseal_agent_spool_write_errors",
            "Spool appends that failed for lack of space or I/O (retried)",
            registry=r,
        )
        self.spool_blocked = Gauge(
            "auditseal_agent_spool_blocked", "1 while appends wait for room (spool bound or disk full)", registry=r
        )
        self.spool_bytes = Gauge("auditseal_agent_spool_bytes", "Bytes in spool segments", registry=r)
        self.degraded = Gauge("auditseal_agent_degraded", "1 when start-up recovery repaired the spool", registry=r)
        self.lost_events = Counter(
            "auditseal_agent_lost_events", "Sequence numbers lost to spool damage (declared as gaps)", registry=r
        )
        self.last_ack = Gauge(
            "auditseal_agent_last_ack_timestamp_seconds", "Unix time of the last collector acknowledgement", registry=r
        )
        self.oldest_unacked = Gauge(
            "auditseal_agent_oldest_unacked_age_seconds", "Age of the oldest spooled, unacknowledged event", registry=r
        )
        self.spool_segments = Gauge("auditseal_agent_spool_segments", "Spool segment files", registry=r)
        self.unacked = Gauge("auditseal_agent_spool_unacked_events", "Events spooled but not acked", registry=r)

    def start_at_zero(self, inputs: list[str]) -> None:
        """The labelled series whose labels are known at start, at 0 (each input's lines and
        truncations, the batch results that need no status)."""
        for counter in (self.lines_read, self.truncations):
            zero(counter, *((name,) for name in inputs))
        zero(self.batches, ("ok",), ("connection_error",))
