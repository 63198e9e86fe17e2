"""Run the command line in-process: ``cli.main(argv)`` with captured output, as a subprocess would report it.

Starting a Python interpreter per command (about a second of imports each on
a loaded machine) made the CLI tests the slowest part of the suite.  The
in-process run goes through the same ``main`` the console command calls,
including its error handling (exit codes, no tracebacks); a few real
subprocess smoke tests (``tests/test_cli.py``) keep ``python -m analytics``
and the exit status of the interpreter itself covered.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from analytics import cli

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd: Path | str = ROOT) -> subprocess.CompletedProcess:
    """``python -m analytics ARGS`` in this process: returncode, stdout and stderr as text."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess([sys.executable, "-m", "analytics", *argv], code, out.getvalue(),
                                       err.getvalue())


def run_subprocess(*args, cwd: Path | str = ROOT, timeout: int = 180) -> subprocess.CompletedProcess:
    """The real thing: a new interpreter running ``python -m analytics ARGS``."""
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
