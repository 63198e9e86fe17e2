"""Start the dashboard on a free loopback port and wait until it answers (tests and benchmarks)."""
from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
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
    # The server's log is read as it is written: a pipe nobody reads blocks the server once it holds 64 KiB,
    # mid-page (the file watcher's one 550 kB warning did, in a test of a whole week).  The last lines are kept
    # for a failed start; SERVER_LOG names a file to keep all of it.
    tail: collections.deque = collections.deque(maxlen=200)
    keep = open(os.environ["SERVER_LOG"], "ab") if os.environ.get("SERVER_LOG") else None

    def drain():
        for line in proc.stderr:
            tail.append(line)
            if keep is not None:
                keep.write(line)
                keep.flush()

    reader = threading.Thread(target=drain, name="dashboard-log", daemon=True)
    reader.start()
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
                    reader.join(timeout=5)
                    log = b"".join(tail).decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the dashboard did not start: {log}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.join(timeout=5)
        if keep is not None:
            keep.close()
