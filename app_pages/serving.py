"""Start the dashboard on a free loopback port and wait until it answers (tests and benchmarks)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_dashboard(*, env: dict, cwd=None, address: str | None = None, port: int | None = None,
                    timeout: float = 60):
    """Yield ``http://127.0.0.1:<port>`` of a running dashboard; stop it afterwards.

    ``address`` overrides the configured bind address (our own traffic still goes to 127.0.0.1).
    """
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(DASHBOARD), "--server.port", str(port),
           "--server.headless", "true"]
    if address:
        cmd += ["--server.address", address]
    proc = subprocess.Popen(cmd, cwd=cwd or DASHBOARD.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError(f"the dashboard did not start: {proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
