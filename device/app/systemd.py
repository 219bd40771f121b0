"""A tiny ``sd_notify``: tell systemd we are ready, alive (watchdog) and stopping; a silent
no-op outside systemd, and never raising into the caller (``docs/device.md``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes:
    # "@name" is Linux's abstract namespace: the address starts with a NUL byte.
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """sd_notify client. ``env`` defaults to ``os.environ``; ``clock`` to ``time.monotonic``."""

    def __init__(self, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        env = os.environ if env is None else env
        self._clock = clock
        self._sock: socket.socket | None = None
        self._addr: str | bytes | None = None
        self._warned = False
        value = env.get("NOTIFY_SOCKET", "")
        if value and (value.startswith("/") or value.startswith("@")):
            self._addr = _address(value)
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            except OSError as e:
                log.warning("sd_notify disabled: cannot create a socket: %s", e)
                self._addr = None
        elif value:
            log.warning("sd_notify disabled: NOTIFY_SOCKET=%r is neither a path nor @abstract", value)
        # The watchdog is ours only when WATCHDOG_PID is unset or names this process.
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec and self.enabled and (not pid or pid == str(os.getpid())):
            try:
                period = int(usec) / 1e6
                if period > 0:
                    self.watchdog_interval = period / 2
            except ValueError:
                log.warning("ignoring malformed WATCHDOG_USEC=%r", usec)
        self._last_ping = -float("inf")

    @property
    def enabled(self) -> bool:
        return self._addr is not None

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when sent."""
        if self._sock is None or self._addr is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self._addr)
            return True
        except OSError as e:
            if not self._warned:  # systemd gone or socket full: say so once, keep running
                log.warning("sd_notify to %r failed: %s", self._addr, e)
                self._warned = True
            return False

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1"] + ([f"STATUS={status}"] if status else [])
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def reloading(self, status: str | None = None) -> bool:
        """RELOADING=1 (READY=1 must follow when done), with the monotonic time systemd
        expects of ``Type=notify-reload`` services."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        lines = ["RELOADING=1", f"MONOTONIC_USEC={usec}"] + ([f"STATUS={status}"] if status else [])
        return self.notify(*lines)

    def stopping(self, status: str | None = None) -> bool:
        lines = ["STOPPING=1"] + ([f"STATUS={status}"] if status else [])
        return self.notify(*lines)

    def watchdog(self, force: bool = False) -> bool:
        """Ping the watchdog if half its period has passed since the last ping (or ``force``)."""
        if self.watchdog_interval is None:
            return False
        now = self._clock()
        if not force and now - self._last_ping < self.watchdog_interval:
            return False
        self._last_ping = now
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
