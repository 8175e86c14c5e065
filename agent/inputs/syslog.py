"""Syslog input: UDP, TCP (octet counting or LF framing, told apart per message), TLS
(RFC 5425, client certificates optional) and a unix datagram socket.

Every connection is its own task, so a slow TCP client never holds up another. Under
backpressure TCP readers wait (the kernel then slows the sender); UDP cannot wait, so a
datagram that finds the queue full is dropped and counted, and the kernel's own drops
for the socket (``/proc/net/udp``) are reported too: every lost datagram is counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import ssl

from auditseal.errors import Rejected
from auditseal.formats.event import utc_now_iso
from auditseal.logs import kv

from ..config import SyslogInput
from ..framing import Framer, FramingError
from ..normalise import Source
from ..parsers import storable
from ..parsers.auth import zone
from ..parsers.syslog import parse_message
from . import Chunk, DeadLetter, Submit, register

log = logging.getLogger("auditseal.agent.syslog")


@register("syslog")
class SyslogListener:
    def __init__(self, config: SyslogInput, position: dict, source: Source, metrics):
        self.config = config
        self.name = config.name
        self.source = source
        self.metrics = metrics
        self.tz = zone(config.timezone)
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=config.queue_messages)
        self._servers: list = []
        self._transports: list = []
        self._stopping = asyncio.Event()
        self._connections: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self.udp_socket: socket.socket | None = None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, submit: Submit) -> None:
        await self._listen()
        try:
            while not self._stopping.is_set():
                batch = await self._gather()
                if batch:
                    await submit(self._chunk(batch))
                self._report_kernel_drops()
        finally:
            for server in self._servers:
                server.close()
            for transport in self._transports:
                transport.close()
            # Let open connections end on their own (EOF), not be cancelled mid-read.
            for writer in self._connections.values():
                writer.close()
            if self._connections:
                await asyncio.wait(list(self._connections), timeout=2)
            if self.config.unix:
                try:
                    os.unlink(self.config.unix)
                except OSError:
                    pass

    async def _gather(self) -> list[tuple[bytes, bool, str]]:
        """Up to ``batch_messages`` messages, waiting at most ``batch_wait`` after the first."""
        try:
            first = await asyncio.wait_for(self.queue.get(), 0.5)
        except asyncio.TimeoutError:
            return []
        batch = [first]
        deadline = asyncio.get_running_loop().time() + self.config.batch_wait
        while len(batch) < self.config.batch_messages:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    def _chunk(self, batch) -> Chunk:
        chunk = Chunk(self.name, size=sum(len(d) for d, _, _ in batch))
        created, now = utc_now_iso(), dt.datetime.now(dt.timezone.utc)
        for data, cut, peer in batch:
            try:
                doc = parse_message(data, now, self.tz)
                doc["event"]["created"] = created
                doc["organization"] = {"id": self.source.tenant}
                host = doc.setdefault("host", {})
                # The host the message is about is the one its header names; a relay is the client.
                host.setdefault("name", host.get("hostname") or self.source.host_name)
                client(doc, peer)
                if cut:
                    doc.setdefault("labels", {})["truncated"] = True
                chunk.events.append(storable(doc))
            except Rejected as exc:
                chunk.dead.append(DeadLetter(self.name, peer, 0, exc.reason, str(exc), data))
            except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # a parser bug: one message
                chunk.dead.append(DeadLetter(self.name, peer, 0, "parser_error", f"{type(exc).__name__}: {exc}", data))
        self.metrics.lines_read.labels(self.name).inc(len(batch))
        return chunk

    # -- listeners -----------------------------------------------------------------------
    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        c = self.config
        if c.udp:
            host, port = _split(c.udp)
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            sock.bind((host, port))
            self.udp_socket = sock
            transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self, "udp"), sock=sock)
            self._transports.append(transport)
        if c.unix:
            if os.path.exists(c.unix):
                os.unlink(c.unix)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(c.unix)
            os.chmod(c.unix, 0o666)
            transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self, "unix"), sock=sock)
            self._transports.append(transport)
        if c.tcp:
            host, port = _split(c.tcp)
            self._servers.append(await asyncio.start_server(self._stream("tcp"), host, port))
        if c.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(c.tls.cert), str(c.tls.key))
            if c.tls.client_ca:
                ctx.load_verify_locations(str(c.tls.client_ca))
                ctx.verify_mode = ssl.CERT_REQUIRED if c.tls.require_client_cert else ssl.CERT_OPTIONAL
            host, port = _split(c.tls.listen)
            self._servers.append(await asyncio.start_server(self._stream("tls"), host, port, ssl=ctx))
        log.info(
            "syslog listening",
            extra=kv(input=self.name, udp=c.udp, tcp=c.tcp, unix=c.unix, tls=c.tls.listen if c.tls else None),
        )

    def _stream(self, transport: str):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            peer_text = f"{transport}://{peer[0]}:{peer[1]}" if peer else transport
            framer = Framer(self.config.max_message_bytes)
            task = asyncio.current_task()
            self._connections[task] = writer
            try:
                while not self._stopping.is_set():
                    data = await reader.read(65536)
                    if not data:
                        break
                    for frame in framer.feed(data):
                        # Waits when the agent is saturated: TCP pushes back on the sender.
                        await self.queue.put((frame.data, frame.cut, peer_text))
                        self.metrics.syslog_messages.labels(self.name, transport).inc()
                rest = framer.pending().strip()
                if rest:  # the last message of a closed connection needs no newline
                    limit = self.config.max_message_bytes
                    await self.queue.put((rest[:limit], len(rest) > limit, peer_text))
            except FramingError as exc:
                self.metrics.syslog_rejected.labels(self.name, "framing").inc()
                log.warning("syslog connection closed: unframeable stream", extra=kv(peer=peer_text, error=str(exc)))
            except (ConnectionError, ssl.SSLError) as exc:
                log.info("syslog connection ended", extra=kv(peer=peer_text, error=str(exc)))
            finally:
                self._connections.pop(task, None)
                writer.close()

        return handle

    def _report_kernel_drops(self) -> None:
        if self.udp_socket is not None:
            drops = udp_kernel_drops(self.udp_socket)
            if drops is not None:
                self.metrics.syslog_udp_kernel_drops.labels(self.name).set(drops)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener, transport: str):
        self.listener = listener
        self.transport_name = transport

    def datagram_received(self, data: bytes, addr) -> None:
        listener = self.listener
        limit = listener.config.max_message_bytes
        peer = f"{self.transport_name}://{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else self.transport_name
        message = data.rstrip(b"\n")
        try:
            listener.queue.put_nowait((message[:limit], len(message) > limit, peer))
            listener.metrics.syslog_messages.labels(listener.name, self.transport_name).inc()
        except asyncio.QueueFull:
            listener.metrics.syslog_dropped.labels(listener.name).inc()


def udp_kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (its receive buffer was full)."""
    inode = os.fstat(sock.fileno()).st_ino
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if len(cols) >= 13 and cols[9] == str(inode):
                        return int(cols[12])
        except OSError:
            continue
    return None


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def client(doc: dict, peer: str | None) -> None:
    """The sender of a message (``udp://10.0.0.5:514``): ``client.ip``/``port`` when it has an
    address, and how it came in ``labels.syslog_transport`` (udp, tcp, tls, unix)."""
    if not peer:
        return
    transport, _, address = peer.partition("://")
    doc.setdefault("labels", {})["syslog_transport"] = transport
    host, _, port = address.rpartition(":")
    if host and port.isdigit():
        doc["client"] = {"ip": host.strip("[]"), "port": int(port)}
