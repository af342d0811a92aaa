"""A real `ifnscope serve` process for tests and the load benchmarks (bench/), and the command-line
set-up they share: a migrated database with a user and an API token."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`ifnscope serve` on a free port and a given database; ``start`` waits until it answers."""

    def __init__(self, database_url: str, env: dict[str, str], workers: int = 1) -> None:
        self.url, self.env, self.port, self.workers = database_url, env, free_port(), workers
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ifnscope",
                "serve",
                "--port",
                str(self.port),
                "--database-url",
                self.url,
                "--no-demo",
                *(["--workers", str(self.workers)] if self.workers != 1 else []),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if httpx.get(self.base + "/api/auth/me", timeout=1).status_code == 401:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout:g} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop (SIGTERM) or kill (SIGKILL) the server and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


def ifnscope(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m ifnscope ARGS`` in ``env``; raises if it fails."""
    return subprocess.run(
        [sys.executable, "-m", "ifnscope", *args], capture_output=True, text=True, env=env, check=True
    )


def users_with_token(url: str, env: dict[str, str], names: list[str], password: str) -> str:
    """Migrate the database at ``url``, create clinicians ``names`` and return an API token of
    the first."""
    ifnscope("admin", "migrate", "--database-url", url, env=env)
    for name in names:
        ifnscope(
            "admin", "create-user", name, "--role", "clinician", "--password", password,
            "--database-url", url, env=env,
        )  # fmt: skip
    out = ifnscope("admin", "create-token", names[0], "--name", "bench", "--database-url", url, env=env)
    return next(w for w in out.stdout.split() if w.startswith("ifn_"))


def scalar(url: str, sql: str) -> int:
    """One integer from the database at ``url`` (a count)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.connect() as c:
        n = int(c.execute(text(sql)).scalar_one())
    eng.dispose()
    return n
