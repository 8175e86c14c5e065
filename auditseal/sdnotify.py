"""systemd's readiness protocol (sd_notify), without libsystemd: one datagram to
``$NOTIFY_SOCKET``. Without the variable (no systemd, or ``Type=simple``) it does nothing, so
the programs behave the same everywhere."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` (``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=...``); True if sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address[0] == "@":  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False  # the manager went away: readiness is a courtesy, never a failure
    return True
