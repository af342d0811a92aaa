"""``ifnscope serve --workers N`` (web.workers): keep-alive clients are spread over the workers,
a second server cannot take the port, a dead worker is replaced, SIGTERM stops them all, and
idle connections are kept longer than uvicorn's 5 s."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ifnscope.web.workers import balanced
from tests.server import ServerProcess

pytestmark = pytest.mark.skipif(not balanced(), reason="SO_REUSEPORT balancing is Linux's")


def _workers(parent: int) -> list[int]:
    """The worker processes of the server process ``parent`` (its children, from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
                found.append(int(entry))  # not multiprocessing's resource tracker
    return sorted(found)


def _established(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    return inodes


def _connections_of(pid: int, inodes: set[str]) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            n += 1
    return n


def _wait_for(check: object, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    srv = ServerProcess(url, {**os.environ, "IFNSCOPE_DATABASE_URL": url}, workers=2)
    srv.start()
    try:
        assert srv.proc is not None
        _wait_for(lambda: len(_workers(srv.proc.pid)) == 2)  # type: ignore[union-attr]
        yield srv
    finally:
        srv.stop()  # also when the workers did not come up: never leave a server running


def test_keep_alive_clients_are_spread_over_the_workers(two_workers: ServerProcess) -> None:
    # uvicorn's own workers share one socket and the first to wake accepted a whole burst: 50
    # keep-alive clients all on one of two workers. A socket per worker: the kernel spreads them.
    assert two_workers.proc is not None
    workers = _workers(two_workers.proc.pid)
    clients = [httpx.Client(base_url=two_workers.base, timeout=30) for _ in range(40)]
    try:
        for c in clients:
            assert c.get("/api/auth/me").status_code == 401  # the connection is open and kept
        inodes = _established(two_workers.port)
        counts = [_connections_of(pid, inodes) for pid in workers]
    finally:
        for c in clients:
            c.close()
    assert sum(counts) == 40, counts
    # Spread by a hash of the addresses: 40 connections over two workers fall 20 ± 3 each side
    # (one-sided below 8 has a probability under 1e-4).
    assert min(counts) >= 8, f"connections per worker: {counts}"


def test_a_second_server_cannot_take_the_port(two_workers: ServerProcess, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", "serve", "--port", str(two_workers.port), "--workers", "2",
         "--database-url", url, "--no-demo"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{two_workers.port}" in r.stderr
    assert "Traceback" not in r.stderr
    assert httpx.get(two_workers.base + "/api/auth/me").status_code == 401  # the first still serves


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(two_workers: ServerProcess) -> None:
    assert two_workers.proc is not None
    parent = two_workers.proc.pid
    first, second = _workers(parent)
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: len(_workers(parent)) == 2 and first not in _workers(parent))
    _wait_for(lambda: all(httpx.get(two_workers.base + "/api/auth/me").status_code == 401 for _ in range(10)))
    workers = _workers(parent)
    assert second in workers
    two_workers.stop()
    assert two_workers.proc.returncode == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _idle_connection_open_after(base: str, seconds: float) -> bool:
    """Send one request on a raw connection, wait ``seconds``, and say whether the server kept it."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET /api/auth/me HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            data += s.recv(65536)
        assert data.startswith(b"HTTP/1.1 401")
        time.sleep(seconds)
        s.setblocking(False)
        try:
            return s.recv(1, socket.MSG_PEEK) != b""  # b"": the server closed it
        except BlockingIOError:
            return True  # nothing to read, not closed


def test_idle_connections_outlive_uvicorns_five_seconds(two_workers: ServerProcess, tmp_path: Path) -> None:
    # uvicorn closes idle connections after 5 s, which reset busy clients reusing them; ifnscope
    # keeps them 75 s (IFNSCOPE_KEEP_ALIVE_SECONDS), longer than a proxy in front keeps them.
    assert _idle_connection_open_after(two_workers.base, 6.5)
    url = f"sqlite:///{tmp_path / 'short.sqlite3'}"
    env = {**os.environ, "IFNSCOPE_DATABASE_URL": url, "IFNSCOPE_KEEP_ALIVE_SECONDS": "1"}
    short = ServerProcess(url, env)
    short.start()
    try:
        assert not _idle_connection_open_after(short.base, 2.5)
    finally:
        short.stop()
