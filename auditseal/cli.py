"""``auditseal``: PKI, admin tokens and queries."""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
from pathlib import Path

import orjson
import yaml

from auditseal import version_text
from auditseal import query_command
from auditseal.audit import prove, verify
from auditseal.dev import devsetup, pki, samples
from auditseal.rules import command as rules_command
from auditseal.errors import Halt, Rejected, Retryable
from auditseal.formats import crypto, keys
from auditseal.formats.note import NoteError, Verifier
from auditseal.storage import archive
from auditseal.storage import tokens
from auditseal.storage.files import write_atomic


def _cmd_pki(args) -> int:
    directory = Path(args.dir)
    if args.pki_command == "init":
        print(f"CA written: {pki.init_ca(directory)}")
        return 0
    if bool(args.agent) == bool(args.collector):
        raise Halt("give exactly one of --agent ID or --collector NAME")
    if args.agent:
        tenants = [t.strip() for t in (args.tenants or "").split(",") if t.strip()]
        paths = pki.issue_agent(directory, args.agent, tenants)
    else:
        hosts = [h.strip() for h in (args.hosts or "localhost,127.0.0.1").split(",") if h.strip()]
        paths = pki.issue_collector(directory, args.collector, hosts)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _token_store(args) -> tokens.TokenStore:
    """The collector's token store: ``--store``, or where ``--config`` (a collector config)
    keeps it (``admin.token_store``, else ``<collector.data_dir>/tokens.sqlite``)."""
    if args.store:
        return tokens.TokenStore(Path(args.store))
    if not args.config:
        raise Halt("give --config (the collector's config) or --store (its tokens.sqlite)")
    try:
        cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise Halt(f"{args.config}: {exc}") from None
    admin = (cfg.get("admin") or {}) if isinstance(cfg, dict) else {}
    if admin.get("token_store"):
        return tokens.TokenStore(Path(admin["token_store"]))
    data = ((cfg.get("collector") or {}).get("data_dir")) or "/var/lib/auditseal/collector"
    return tokens.TokenStore(Path(data) / "tokens.sqlite")


def _cmd_token(args) -> int:
    if args.token_command is None:  # a bare admin token for admin.token_sha256
        token = secrets.token_urlsafe(32)
        print(f"token:  {token}")
        print(f"sha256: {hashlib.sha256(token.encode()).hexdigest()}   (put this in admin.token_sha256)")
        return 0
    store = _token_store(args)
    try:
        if args.token_command == "create":
            tenants = [t.strip() for t in (args.tenants or "").split(",") if t.strip()]
            try:
                token, record = store.create(args.name or "", args.role, tenants, args.days)
            except ValueError as exc:
                raise Halt(str(exc)) from None
            print(f"token:   {token}")
            print(f"id:      {record.id}   role: {record.role}   tenants: {','.join(record.tenants) or '(all)'}")
            print("the token is shown once; the collector keeps only its hash", file=sys.stderr)
            return 0
        if args.token_command == "list":
            for r in store.records():
                if args.json:
                    print(orjson.dumps(r.public()).decode())
                else:
                    state = f"revoked {r.revoked}" if r.revoked else f"expires {r.expires}" if r.expires else "live"
                    print(f"{r.id}  {r.name:<20} {r.role:<28} {','.join(r.tenants) or '(all)':<24} {state}")
            return 0
        if not store.revoke(args.id):
            raise Halt(f"no live token with id {args.id}")
        print(f"revoked {args.id} (takes effect on the next call)")
        return 0
    except tokens.TokenStoreError as exc:
        raise Halt(str(exc)) from None
    finally:
        store.close()


def _cmd_dev(args) -> int:
    if args.dev_command == "setup":
        done = devsetup.setup(
            Path(args.dir),
            ingest_port=args.ingest_port,
            admin_port=args.admin_port,
            webhook_url=args.webhook_url,
            rules_dir=None if args.rules == "none" else Path(args.rules),
        )
        print(f"collector config: {done.collector_config}")
        if args.webhook_url:
            print(f"webhook secret:   {done.root / 'webhook-secret'} (Standard Webhooks, whsec_...)")
        print(f"agent config:     {done.agent_config}")
        print(f"admin token:      {done.root / 'admin-token'}")
        print(f"watched files:    {done.watch_dir}/*.jsonl")
        return 0
    with open(args.file, "ab") as f:
        f.write(samples.lines(args.start, args.count))
    print(f"appended {args.count} events to {args.file}")
    return 0


def _cmd_keys(args) -> int:
    if args.keys_command == "rotate-archive-key":
        print(
            f"new archive key {crypto.rotate_key_file(Path(args.file))} first in {args.file}; older keys "
            f"kept for reading. Restart the collector: new segments use the new key."
        )
        return 0
    if args.keys_command == "archive-key":
        try:
            print(
                f"archive key: {crypto.new_key_file(Path(args.out))}   (collector archive.encryption_key; "
                f"keep a copy: without it the archive cannot be read)"
            )
        except FileExistsError:
            raise Halt(f"{args.out} exists; refusing to overwrite an archive key") from None
        return 0
    key_path, vkey_path = keys.init(Path(args.dir), args.name)
    print(f"signing key:  {key_path}   (collector archive.signing_key; keep it secret)")
    print(f"verifier key: {vkey_path}   (pin it: auditseal verify --pubkey)")
    return 0


def _load_verifiers(paths: list[str]) -> list[Verifier]:
    verifiers = []
    for path in paths:
        try:
            verifiers.append(Verifier.parse(Path(path).read_text()))
        except OSError as exc:
            raise Halt(f"{path}: {exc.strerror}") from None
        except NoteError as exc:
            raise Halt(f"{path}: {exc}") from None
    return verifiers


def _cipher(args):
    return crypto.SegmentCipher.load(Path(args.archive_key)) if args.archive_key else None


def _cmd_prove(args) -> int:
    verifiers = _load_verifiers(args.pubkey)
    try:
        if args.check:
            bundle = orjson.loads(Path(args.check).read_bytes())
            print(prove.check_proof(bundle, verifiers))
            return 0
        if not args.event_id or not args.archive:
            raise Halt("give EVENT_ID and --archive to build a proof, or --check FILE")
        bundle = prove.build_proof(_open_archive(args), args.event_id, verifiers, args.tenant, _cipher(args))
    except Rejected as exc:
        print(f"auditseal: {exc}", file=sys.stderr)
        return 1
    except (OSError, orjson.JSONDecodeError) as exc:
        raise Halt(f"cannot read the proof bundle: {exc}") from None
    sys.stdout.buffer.write(orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def _open_archive(args):
    """A directory, or s3://bucket[/prefix] (credentials from the standard AWS chain)."""
    if args.archive.startswith("s3://"):
        from auditseal.storage.archive_s3 import S3Location, S3Store, make_client

        return S3Store(make_client(args.endpoint), S3Location.parse(args.archive))
    if not Path(args.archive).is_dir():
        raise Halt(f"{args.archive}: no such archive directory")
    return archive.LocalStore(Path(args.archive))


def _cmd_archive(args) -> int:
    from auditseal.storage.holds import apply_hold

    if not args.archive.startswith("s3://"):
        raise Halt("legal holds are an S3 Object Lock feature: give --archive s3://bucket[/prefix]")
    result = apply_hold(_open_archive(args), args.since, args.until, not args.release, args.tenant)
    verb = "lifted from" if args.release else "placed on"
    print(f"legal hold {verb} {len(result.segments)} segments and {len(result.checkpoints)} checkpoints")
    for key in result.segments:
        print(f"  {key}")
    return 0 if result.segments else 1


def _cmd_verify(args) -> int:
    store = _open_archive(args)
    verifiers = _load_verifiers(args.pubkey)
    state = None
    if args.state and Path(args.state).exists():
        state = orjson.loads(Path(args.state).read_bytes())
    index = None
    if args.index:
        if args.index.startswith("sqlite:"):
            index = verify.sqlite_index(args.index[len("sqlite:") :])
        elif args.index.startswith("es:"):
            from auditseal.audit.verify_es import elasticsearch_index

            index = elasticsearch_index(args.index[len("es:") :])
        else:
            raise Halt("--index takes sqlite:PATH or es:URL")
    since = None
    if args.index_days is not None:
        import datetime as dt

        from auditseal.formats.event import format_ts

        since = format_ts(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=args.index_days))
    if args.incremental and not args.state:
        raise Halt("--incremental needs --state (where the last run stopped)")
    if args.incremental and index is not None:
        raise Halt("--incremental cannot be combined with --index (that needs every leaf)")
    report = verify.verify_store(store, verifiers, state, index, _cipher(args), since, args.incremental)
    if args.state:
        write_atomic(Path(args.state), orjson.dumps(report.state, option=orjson.OPT_INDENT_2))
    if args.json:
        sys.stdout.buffer.write(report.to_json() + b"\n")
    else:
        for f in report.findings:
            print(f.line())
        unopened = (
            (
                f", {report.segments_encrypted_unopened} encrypted segments checked by hash only "
                f"(give --archive-key to recompute their leaves)"
            )
            if report.segments_encrypted_unopened
            else ""
        )
        print(
            report.summary + f" ({report.events_verified} events verified, {len(report.findings)} findings{unopened})"
        )
    if report.segments_total == 0 and not report.findings:
        print(f"auditseal: no archive logs under {args.archive}; nothing was verified", file=sys.stderr)
        return 1
    return 1 if report.findings else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="auditseal")
    parser.add_argument("--version", action="version", version=version_text("auditseal"))
    sub = parser.add_subparsers(dest="command", required=True)

    p_pki = sub.add_parser("pki", help="development CA and certificates")
    pki_sub = p_pki.add_subparsers(dest="pki_command", required=True)
    p_init = pki_sub.add_parser("init", help="make a CA in --dir")
    p_init.add_argument("--dir", required=True)
    p_issue = pki_sub.add_parser("issue", help="issue an agent or collector certificate")
    p_issue.add_argument("--dir", required=True)
    p_issue.add_argument("--agent", help="agent id (client certificate + HMAC key)")
    p_issue.add_argument("--tenants", help="comma-separated tenants the agent may write for")
    p_issue.add_argument("--collector", help="collector name (server certificate)")
    p_issue.add_argument("--hosts", help="comma-separated DNS names/IPs (default localhost,127.0.0.1)")

    p_token = sub.add_parser("token", help="admin API tokens: create, list, revoke (bare: a config admin token)")
    token_sub = p_token.add_subparsers(dest="token_command")
    for name, text in (
        ("create", "a new token, shown once"),
        ("list", "tokens and their state"),
        ("revoke", "revoke one"),
    ):
        tp = token_sub.add_parser(name, help=text)
        tp.add_argument("--config", "-c", help="the collector's config (finds its token store)")
        tp.add_argument("--store", help="the token store file itself")
        if name == "create":
            tp.add_argument("--role", required=True, help="admin, auditor or tenant-auditor:<tenant>")
            tp.add_argument("--tenants", help="tenants an auditor reads, comma-separated")
            tp.add_argument("--name", help="who or what it is for (shown in lists and audit events)")
            tp.add_argument("--days", type=float, help="expires after this many days (default: never)")
        if name == "list":
            tp.add_argument("--json", action="store_true")
        if name == "revoke":
            tp.add_argument("id", help="the token's id (from list)")

    p_keys = sub.add_parser("keys", help="checkpoint signing keys")
    keys_sub = p_keys.add_subparsers(dest="keys_command", required=True)
    p_kinit = keys_sub.add_parser("init", help="make an Ed25519 signing key and its verifier key")
    p_kinit.add_argument("--dir", required=True)
    p_kinit.add_argument("--name", required=True, help="key name, e.g. auditseal.example.com")
    p_karch = keys_sub.add_parser("archive-key", help="make an AES-256-GCM key for the local archive")
    p_karch.add_argument("--out", required=True, help="key file to create (0600)")
    p_krot = keys_sub.add_parser(
        "rotate-archive-key", help="a new archive key first in the key file; older keys kept for reading"
    )
    p_krot.add_argument("--file", required=True, help="the archive key file (archive.encryption_key)")

    query_command.add_parser(sub)

    p_verify = sub.add_parser("verify", help="verify an archive offline against pinned keys")
    p_verify.add_argument("--archive", required=True, help="archive directory or s3://bucket[/prefix]")
    p_verify.add_argument("--endpoint", help="S3 endpoint URL (Ceph RGW, MinIO); default AWS_ENDPOINT_URL or AWS")
    p_verify.add_argument("--archive-key", help="archive key file, to read encrypted segments")
    p_verify.add_argument(
        "--pubkey", required=True, action="append", help="verifier key file (.vkey); repeat to pin several (rotation)"
    )
    p_verify.add_argument("--state", help="file remembering the newest verified checkpoints")
    p_verify.add_argument(
        "--index", help="compare with an index: sqlite:PATH or es:URL (API key from AUDITSEAL_ES_API_KEY)"
    )
    p_verify.add_argument(
        "--incremental",
        action="store_true",
        help="only what is new since --state (for locked S3 archives: older objects cannot change)",
    )
    p_verify.add_argument(
        "--index-days",
        type=int,
        metavar="N",
        help="the index keeps N days (retention.index_days): older events may be gone",
    )
    p_verify.add_argument("--json", action="store_true", help="machine-readable output")

    p_prove = sub.add_parser("prove", help="inclusion proof for one event, or check one offline")
    p_prove.add_argument("event_id", nargs="?", help="event.id to prove")
    p_prove.add_argument("--archive", help="archive directory or s3://bucket[/prefix] (to build a proof)")
    p_prove.add_argument("--endpoint", help="S3 endpoint URL")
    p_prove.add_argument("--tenant", help="look only in this tenant's log")
    p_prove.add_argument("--archive-key", help="archive key file, to read encrypted segments")
    p_prove.add_argument("--pubkey", required=True, action="append", help="verifier key file (.vkey)")
    p_prove.add_argument("--check", metavar="FILE", help="verify a proof bundle offline instead")

    p_archive = sub.add_parser("archive", help="operate on an S3 Object Lock archive")
    archive_sub = p_archive.add_subparsers(dest="archive_command", required=True)
    p_hold = archive_sub.add_parser("hold", help="place (or --release) a legal hold on a time range")
    p_hold.add_argument("--archive", required=True, help="s3://bucket[/prefix]")
    p_hold.add_argument("--endpoint", help="S3 endpoint URL")
    p_hold.add_argument("--since", required=True, help="ISO 8601, inclusive (event time)")
    p_hold.add_argument("--until", required=True, help="ISO 8601, exclusive (event time)")
    p_hold.add_argument("--tenant", help="only this tenant's logs")
    p_hold.add_argument("--release", action="store_true", help="lift the hold instead")

    p_dev = sub.add_parser("dev", help="local development helpers")
    dev_sub = p_dev.add_subparsers(dest="dev_command", required=True)
    p_setup = dev_sub.add_parser("setup", help="dev PKI, admin token and configs in --dir")
    p_setup.add_argument("--dir", required=True)
    p_setup.add_argument("--ingest-port", type=int, default=9443)
    p_setup.add_argument(
        "--rules",
        default=str(devsetup.RULES_DIR) if devsetup.RULES_DIR.is_dir() else "none",
        help="alert rules directory (default: the checkout's configs/rules; 'none': built-in rules only)",
    )
    p_setup.add_argument("--webhook-url", help="send alerts to this webhook too (signed; secret in DIR/webhook-secret)")
    p_setup.add_argument("--admin-port", type=int, default=9444)
    p_events = dev_sub.add_parser("events", help="append sample events to a JSON-lines file")
    p_events.add_argument("--file", required=True)
    p_events.add_argument("--count", type=int, default=20)
    p_events.add_argument("--start", type=int, default=0)

    rules_command.add_parser(sub)

    args = parser.parse_args(argv)
    handlers = {
        "rules": rules_command.run,
        "pki": _cmd_pki,
        "token": _cmd_token,
        "keys": _cmd_keys,
        "verify": _cmd_verify,
        "prove": _cmd_prove,
        "query": query_command.run,
        "dev": _cmd_dev,
        "archive": _cmd_archive,
    }
    try:
        return handlers[args.command](args)
    except (Halt, Retryable) as exc:
        print(f"auditseal: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
