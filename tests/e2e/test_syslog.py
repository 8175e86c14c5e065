"""Syslog from real clients: util-linux `logger` over UDP, TCP (LF and octet counting) and
a unix socket, rsyslog forwarding with omfwd, and TLS; newlines inside messages, a 64 KiB
message, a stalled client that blocks nobody, and UDP drops counted exactly."""

import shutil
import socket
import ssl
import subprocess
import time

import pytest
import yaml

from tests.harness import Pipeline, free_port, wait_for


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def syslog_pipe(tmp_path):
    pipe = Pipeline(tmp_path / "pipe")
    pki = pipe.root / "pki"
    ports = {"udp": free_udp_port(), "tcp": free_port(), "tls": free_port()}
    unix = str(tmp_path / "agent-syslog.sock")
    config = yaml.safe_load(pipe.setup.agent_config.read_text())
    config["inputs"].append(
        {
            "type": "syslog",
            "name": "syslog",
            "tenant": "acme",
            "udp": f"127.0.0.1:{ports['udp']}",
            "tcp": f"127.0.0.1:{ports['tcp']}",
            "unix": unix,
            "queue_messages": 200,
            "tls": {
                "listen": f"127.0.0.1:{ports['tls']}",
                "cert": str(pki / "collector-local.crt"),
                "key": str(pki / "collector-local.key"),
                "client_ca": str(pki / "ca.crt"),
            },
        }
    )
    pipe.setup.agent_config.write_text(yaml.safe_dump(config))
    pipe.start_collector()
    pipe.start_agent()
    wait_for(lambda: "syslog listening" in pipe.agent.output(), 15, "syslog listeners")
    pipe.ports, pipe.unix = ports, unix
    yield pipe
    pipe.stop()


def logger(*args):
    subprocess.run(["logger", *args], check=True, timeout=30)


def messages(pipe):
    return [d for d in pipe.index_docs() if "log" in d]


def one(pipe, predicate, what):
    found = wait_for(lambda: [d for d in messages(pipe) if predicate(d)], 20, what)
    assert len(found) == 1, f"{what}: {len(found)} copies"
    return found[0]


def test_logger_over_every_transport(syslog_pipe):
    pipe, ports = syslog_pipe, syslog_pipe.ports
    logger(
        "--rfc3164",
        "--udp",
        "-n",
        "127.0.0.1",
        "-P",
        str(ports["udp"]),
        "-t",
        "sshd",
        "Accepted password for alice from 10.0.0.1 port 2222 ssh2",
    )
    logger(
        "--rfc5424",
        "--udp",
        "-n",
        "127.0.0.1",
        "-P",
        str(ports["udp"]),
        "-t",
        "billing",
        "--msgid",
        "INV7",
        "--sd-id",
        "audit@32473",
        "--sd-param",
        'actor="bob"',
        "invoice voided",
    )
    logger("--rfc5424", "--tcp", "-n", "127.0.0.1", "-P", str(ports["tcp"]), "-t", "lf", "plain tcp line")
    logger(
        "--rfc5424",
        "--tcp",
        "--octet-count",
        "-n",
        "127.0.0.1",
        "-P",
        str(ports["tcp"]),
        "-t",
        "multi",
        "first line\nsecond line",
    )
    big = "B" * 65536
    logger(
        "--rfc5424",
        "--tcp",
        "--octet-count",
        "--size",
        "70000",
        "-n",
        "127.0.0.1",
        "-P",
        str(ports["tcp"]),
        "-t",
        "big",
        big,
    )
    logger(
        "-u",
        pipe.unix,
        "--socket-errors=on",
        "-t",
        "sudo",
        "  carol : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/id",
    )

    ssh = one(pipe, lambda d: d.get("process", {}).get("name") == "sshd", "rfc3164/udp")
    assert (ssh["event"]["action"], ssh["user"]["name"], ssh["source"]["ip"]) == ("ssh_login", "alice", "10.0.0.1")
    # The host is the one the header names; the sender is the client, and how it came a label.
    assert ssh["host"]["name"] == ssh["host"]["hostname"] and ssh["client"]["ip"] == "127.0.0.1"
    assert ssh["labels"]["syslog_transport"] == "udp" and "observer" not in ssh
    sd = one(pipe, lambda d: d.get("process", {}).get("name") == "billing", "rfc5424/udp")
    assert sd["log"]["syslog"]["structured_data"]["audit@32473"] == {"actor": "bob"}
    assert sd["log"]["syslog"]["msgid"] == "INV7" and sd["message"] == "invoice voided"
    assert one(pipe, lambda d: d.get("process", {}).get("name") == "lf", "lf/tcp")["message"] == "plain tcp line"
    assert (
        one(pipe, lambda d: d.get("process", {}).get("name") == "multi", "octet/tcp")["message"]
        == "first line\nsecond line"
    )
    assert one(pipe, lambda d: d.get("process", {}).get("name") == "big", "64 KiB")["message"] == big
    sudo = one(pipe, lambda d: d.get("process", {}).get("name") == "sudo", "unix socket")
    assert (sudo["event"]["action"], sudo["user"]["name"]) == ("sudo_command", "carol")
    assert sudo["labels"]["syslog_transport"] == "unix" and "client" not in sudo


def test_tls_and_a_stalled_client_that_blocks_nobody(syslog_pipe):
    pipe, ports = syslog_pipe, syslog_pipe.ports
    stalled = socket.create_connection(("127.0.0.1", ports["tcp"]))
    stalled.sendall(b"500 <13>1 - - stalled - - - only half of it")  # and then nothing
    ctx = ssl.create_default_context(cafile=str(pipe.root / "pki" / "ca.crt"))
    with socket.create_connection(("127.0.0.1", ports["tls"])) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            for text in (b"<13>1 - web-1 tlsapp - - - over tls one", b"<13>1 - web-1 tlsapp - - - over tls\ntwo"):
                tls.sendall(str(len(text)).encode() + b" " + text)
            tls.unwrap()  # a clean TLS close (close_notify), as syslog-over-TLS clients do
    logger("--rfc5424", "--tcp", "-n", "127.0.0.1", "-P", str(ports["tcp"]), "-t", "other", "not blocked")
    assert one(pipe, lambda d: d.get("process", {}).get("name") == "other", "other client")
    tls_docs = wait_for(
        lambda: (
            [d for d in messages(pipe) if d.get("process", {}).get("name") == "tlsapp"]
            if len([d for d in messages(pipe) if d.get("process", {}).get("name") == "tlsapp"]) == 2
            else None
        ),
        20,
        "tls messages",
    )
    assert sorted(d["message"] for d in tls_docs) == sorted(["over tls one", "over tls\ntwo"])
    stalled.close()


def test_rsyslog_forwarding_with_omfwd(syslog_pipe, tmp_path):
    pipe, ports = syslog_pipe, syslog_pipe.ports
    assert shutil.which("rsyslogd"), "rsyslog is installed by .ci/run"
    work = tmp_path / "rsyslog"
    work.mkdir()
    sock = work / "in.sock"
    conf = work / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{work}" maxMessageSize="128k" parser.escapeControlCharactersOnReceive="off")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}")
action(type="omfwd" target="127.0.0.1" port="{ports["tcp"]}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
""")
    rsyslog = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(work / "pid")],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "err", "wb"),
    )
    try:
        wait_for(sock.exists, 15, "rsyslog's input socket")
        logger("-u", str(sock), "-t", "relayed", "via rsyslog\nwith a newline")
        logger("-u", str(sock), "--size", "70000", "-t", "relayedbig", "R" * 65536)
        doc = one(pipe, lambda d: d.get("process", {}).get("name") == "relayed", "rsyslog relay")
        # rsyslog keeps the space that followed "tag:" in the message property
        assert doc["message"].lstrip(" ") == "via rsyslog\nwith a newline"
        big = one(pipe, lambda d: d.get("process", {}).get("name") == "relayedbig", "rsyslog 64 KiB")
        assert big["message"].lstrip(" ") == "R" * 65536
    finally:
        rsyslog.terminate()
        rsyslog.wait(10)


def test_udp_drops_are_counted_exactly(syslog_pipe):
    pipe, ports = syslog_pipe, syslog_pipe.ports
    sent = 30_000
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(sent):
        sender.sendto(b"<13>1 - - flood - - - datagram %d" % i, ("127.0.0.1", ports["udp"]))
    sender.close()
    time.sleep(3)

    def accounted():
        received = len([d for d in messages(pipe) if d.get("process", {}).get("name") == "flood"])
        dropped = pipe.agent_metric('auditseal_agent_syslog_udp_dropped_total{input="syslog"}')
        kernel = pipe.agent_metric('auditseal_agent_syslog_udp_kernel_drops{input="syslog"}')
        return (received, dropped, kernel) if received + dropped + kernel == sent else None

    received, dropped, kernel = wait_for(accounted, 60, "every datagram received or counted as dropped")
    assert received > 0 and dropped + kernel > 0  # the flood did overflow, and nothing went uncounted
