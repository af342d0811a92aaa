"""``ifnscope serve --workers N``: N server processes on one port, each with a listening socket
of its own (``SO_REUSEPORT``), kept running by this process.

Why not uvicorn's own ``--workers``: its workers share one listening socket, and asyncio accepts
every connection waiting on it in one go, so the worker that wakes first takes a whole burst.
Fifty keep-alive clients (a load test, a reverse proxy's or an EHR's connection pool) all
landed on one of two workers: visit writes ran at 42/s with a core idle (docs/benchmarks.md).
With a socket per worker, Linux spreads new connections over the workers by their addresses.

Where the platform has no ``SO_REUSEPORT`` that balances (anything but Linux), uvicorn's
supervisor runs instead.

The supervisor: start the workers (``spawn``: each builds its app from the environment), restart
one that dies, stop them all on SIGINT/SIGTERM. A worker that fails before it serves (exit code
3, uvicorn's ``STARTUP_FAILURE``: the app or the socket is broken) stops the server, as a
restart would fail the same way.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.context import SpawnProcess
from typing import Any

log = logging.getLogger("ifnscope.web.workers")

STARTUP_FAILURE = 3  # uvicorn.config.STARTUP_FAILURE: a worker that could not start
_STOP_WAIT = 30.0  # seconds a worker gets to finish its requests after SIGTERM


def balanced() -> bool:
    """Does this platform spread connections over ``SO_REUSEPORT`` sockets (Linux does)?"""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` (address in use) when anything listens on ``host:port`` already.

    A socket without ``SO_REUSEPORT`` cannot share the port, so a second ``ifnscope serve`` on
    the same port fails here instead of silently taking half of the first one's connections."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(config: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, then uvicorn's server on it."""
    import uvicorn

    try:
        sock = _listen(config["host"], config["port"])
    except OSError as exc:
        print(f"ifnscope worker: cannot listen on {config['host']}:{config['port']}: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(uvicorn.Config(**config))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    """Keeps ``workers`` processes serving ``config`` (uvicorn.Config keywords) on one port."""

    def __init__(self, config: dict[str, Any], workers: int) -> None:
        self.config, self.workers = config, workers
        self.processes: list[SpawnProcess] = []
        self.stopping = threading.Event()
        self.failed = False

    def _start(self) -> SpawnProcess:
        p = multiprocessing.get_context("spawn").Process(target=_worker, args=(self.config,), daemon=False)
        p.start()
        return p

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; 0, or 1 when a worker could not start."""
        check_port_free(self.config["host"], self.config["port"])
        previous = {
            sig: signal.signal(sig, lambda *_: self.stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.processes = [self._start() for _ in range(self.workers)]
            while not self.stopping.wait(0.5):
                self._replace_dead()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def _replace_dead(self) -> None:
        for i, p in enumerate(self.processes):
            if p.is_alive():
                continue
            p.join()
            if p.exitcode == STARTUP_FAILURE:
                log.error("a worker could not start (exit code %d): stopping", p.exitcode)
                self.failed = True
                self.stopping.set()
                return
            log.warning("worker %d (pid %s) ended with exit code %s: starting another", i, p.pid, p.exitcode)
            self.processes[i] = self._start()

    def _stop_all(self) -> None:
        for p in self.processes:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for p in self.processes:
            p.join(_STOP_WAIT)
            if p.is_alive():
                p.kill()
                p.join()
