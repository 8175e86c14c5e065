"""The collector's Prometheus metrics (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from auditseal.observability import Registry, zero


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = r = Registry("collector")
        self.batches = Counter("auditseal_collector_batches", "Batches by HTTP status", ["status"], registry=r)
        self.rejects = Counter("auditseal_collector_rejects", "Refused batches by reason", ["reason"], registry=r)
        self.event_rejects = Counter(
            "auditseal_collector_events_rejected",
            "Events refused alone (an event_rejected record stored in their place), by reason",
            ["reason"],
            registry=r,
        )
        self.quarantined = Counter(
            "auditseal_collector_quarantined_events",
            "Events a sink could not store and set aside, by sink and error",
            ["sink", "error"],
            registry=r,
        )
        self.slow_clients = Counter(
            "auditseal_collector_ingest_connections_cut",
            "Ingest connections cut or lost before a full request, by reason",
            ["reason"],
            registry=r,
        )
        self.tls_refusals = Counter(
            "auditseal_collector_tls_handshake_failures",
            "Refused TLS handshakes by OpenSSL reason",
            ["reason"],
            registry=r,
        )
        self.admin_calls = Counter(
            "auditseal_collector_admin_calls",
            "Admin API calls recorded as audit events, by route",
            ["route"],
            registry=r,
        )
        self.admin_refused = Counter(
            "auditseal_collector_admin_refused",
            "Admin API calls refused before any handler, by reason",
            ["reason"],
            registry=r,
        )
        self.events = Counter("auditseal_collector_events_accepted", "Events journaled", registry=r)
        self.held = Counter(
            "auditseal_collector_batches_held",
            "Batches that arrived before the batch their agent sent them behind was stored, and waited for it",
            registry=r,
        )
        self.duplicates = Counter(
            "auditseal_collector_events_duplicate", "Resent events dropped by (agent, sequence) dedupe", registry=r
        )
        self.gaps = Counter(
            "auditseal_collector_sequence_gap_events",
            "Sequence numbers missing from agents' streams",
            ["kind"],
            registry=r,
        )
        self.bytes = Counter("auditseal_collector_bytes_received", "Compressed body bytes", registry=r)
        self.ack_seconds = Histogram("auditseal_collector_ack_seconds", "Request to 200, seconds", registry=r)
        self.sink_events = Counter("auditseal_collector_sink_events", "Events written by sink", ["sink"], registry=r)
        self.sink_errors = Counter("auditseal_collector_sink_errors", "Sink failures (retried)", ["sink"], registry=r)
        self.verify_runs = Counter(
            "auditseal_collector_verify_runs", "Scheduled archive verifications", ["result"], registry=r
        )
        self.integrity_findings = Counter(
            "auditseal_collector_integrity_findings",
            "Findings of scheduled verifications, by code",
            ["code"],
            registry=r,
        )
        self.index_items = Counter(
            "auditseal_collector_index_items",
            "Elasticsearch bulk items by outcome (stored, duplicate, or the retried status)",
            ["outcome"],
            registry=r,
        )
        self.index_dead_letters = Counter(
            "auditseal_collector_index_dead_letters",
            "Events Elasticsearch refused for good, by error type",
            ["type"],
            registry=r,
        )
        self.journal_bytes = Gauge("auditseal_collector_journal_bytes", "Bytes held in the journal", registry=r)
        self.journal_segments = Gauge("auditseal_collector_journal_segments", "Journal segment files", registry=r)
        self.journal_publish_seconds = Histogram(
            "auditseal_collector_journal_publish_seconds",
            "NATS journal: publish to replicated acknowledgement, seconds",
            registry=r,
        )
        self.journal_set_aside = Counter(
            "auditseal_collector_journal_set_aside",
            "NATS journal: messages on the journal's subjects that are not a collector's, set aside and skipped",
            registry=r,
        )
        self.journal_reread = Counter(
            "auditseal_collector_journal_reread",
            "NATS journal: times a sink's consumer skipped messages (a delivery lost in the cluster) "
            "and was read again from the sink's cursor",
            registry=r,
        )
        self.journal_purged_unread = Counter(
            "auditseal_collector_journal_purged_unread",
            "NATS journal: times a sink's consumer found messages purged before the sink read them (loss)",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "auditseal_collector_consumer_lag_messages",
            "NATS journal: messages a sink's JetStream consumer has pending or unacknowledged",
            ["consumer"],
            registry=r,
        )
        self.lease_held = Gauge(
            "auditseal_collector_lease_held",
            "NATS journal: 1 while this collector holds a role's lease (sinks, sealer-p<k>; label: fencing token)",
            ["role", "token"],
            registry=r,
        )
        self.sink_lag = Gauge(
            "auditseal_collector_sink_lag_bytes",
            "Journal bytes not yet processed by a sink (same-segment estimate)",
            ["sink"],
            registry=r,
        )
        # Alerting (the alert sink and the channels).
        self.rule_evaluations = Counter(
            "auditseal_collector_rule_evaluations", "Events a rule looked at", ["rule"], registry=r
        )
        self.rule_matches = Counter(
            "auditseal_collector_rule_matches", "Events a rule's filter took", ["rule"], registry=r
        )
        self.rule_missing_group = Counter(
            "auditseal_collector_rule_missing_group",
            "Matching events without a group_by (or key/field) value, skipped by the rule",
            ["rule"],
            registry=r,
        )
        self.alerts_fired = Counter("auditseal_collector_alerts_fired", "Alerts raised, by rule", ["rule"], registry=r)
        self.alerts_suppressed = Counter(
            "auditseal_collector_alerts_suppressed", "Alerts held back by a rule's throttle", ["rule"], registry=r
        )
        self.rule_events_skipped = Counter(
            "auditseal_collector_rule_events_skipped",
            "Events no rule evaluated: late (beyond the lateness bound), duplicate (event.id seen), unusable",
            ["reason"],
            registry=r,
        )
        self.alert_lag = Gauge(
            "auditseal_collector_alert_evaluation_lag_seconds",
            "Journal append to rule evaluation, for the newest evaluated event",
            registry=r,
        )
        self.alert_journal_errors = Counter(
            "auditseal_collector_alert_journal_errors", "Alert events not journaled yet (retried)", registry=r
        )
        self.alert_deliveries = Counter(
            "auditseal_collector_alert_deliveries",
            "Delivery attempts by channel and outcome (delivered, retried, dead_letter)",
            ["channel", "outcome"],
            registry=r,
        )
        self.alert_dead_letters = Counter(
            "auditseal_collector_alert_dead_letters", "Alert deliveries given up, by channel", ["channel"], registry=r
        )
        self.alert_pending = Gauge(
            "auditseal_collector_alert_deliveries_pending",
            "Deliveries waiting to be sent, by channel",
            ["channel"],
            registry=r,
        )

    def start_at_zero(self, sinks: list[str], refusals: dict[str, int]) -> None:
        """The labelled series whose labels are known before anything happens, at 0: every
        ingest refusal (reason → status) and status, every sink's counters, both verification
        results, both kinds of sequence gap."""
        zero(self.rejects, *((reason,) for reason in refusals))
        zero(self.batches, *((str(status),) for status in sorted({200, *refusals.values()})))
        for counter in (self.sink_events, self.sink_errors):
            zero(counter, *((sink,) for sink in sinks))
        zero(self.verify_runs, ("clean",), ("findings",))
        zero(self.gaps, ("declared",), ("undeclared",))
        zero(self.rule_events_skipped, ("late",), ("duplicates",), ("unusable",))

    def alerting_at_zero(self, rules: list[str], channels: list[str]) -> None:
        """Each rule's and channel's series at 0 (at start, and for those a reload adds)."""
        for counter in (
            self.rule_evaluations,
            self.rule_matches,
            self.rule_missing_group,
            self.alerts_fired,
            self.alerts_suppressed,
        ):
            zero(counter, *((rule,) for rule in rules))
        zero(self.alert_dead_letters, *((channel,) for channel in channels))
        outcomes = ("delivered", "retried", "dead_letter")
        zero(self.alert_deliveries, *((channel, outcome) for channel in channels for outcome in outcomes))
