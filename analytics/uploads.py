"""Uploaded files: the client's file name is a label, never a path.

A browser sends whatever name it likes (``../../.streamlit/config.toml``,
``C:\\x\\y.csv``, names with NUL bytes or thousands of characters).  The bytes
are written to a fresh file whose name the tool chooses; the only part of the
client's name that is used is its extension, and only after it is checked
against the allowed list.  The name itself is kept, cleaned, as a label for
messages and the import record.
"""
from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

from .definitions import MAX_UPLOAD_LABEL_CHARS
from .errors import UnreadableFileError

__all__ = ["upload_label", "upload_suffix", "write_upload"]

_SEPARATORS = re.compile(r"[\\/]")


def upload_label(name) -> str:
    """The client's file name as a safe label: last path part, no control characters, bounded length.

    ``"../../etc/passwd"`` -> ``"passwd"``, ``"C:\\data\\x.csv"`` -> ``"x.csv"``, a name of only dots or
    nothing usable -> ``"upload"``.  Never used as a path.
    """
    text = str(name or "")
    text = _SEPARATORS.split(text)[-1]  # both separators, whatever the server's OS
    # control (Cc), format (Cf: bidi overrides), separators other than space, unassigned / surrogates
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    text = " ".join(text.split())
    if len(text) > MAX_UPLOAD_LABEL_CHARS:
        stem, dot, ext = text.rpartition(".")
        keep = f".{ext}" if dot and stem and len(ext) <= 10 else ""
        text = text[: MAX_UPLOAD_LABEL_CHARS - len(keep) - 1] + "…" + keep
    if not text.strip("."):
        return "upload"
    return text


def upload_suffix(name, allowed) -> str:
    """The extension of the client's name (lower case, with the dot) if it is one of ``allowed``.

    Raises
    ------
    UnreadableFileError
        No extension, or one not in ``allowed``; the message lists the allowed ones.
    """
    label = upload_label(name)
    allowed = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in allowed)
    suffix = Path(label).suffix.lower() if label != "upload" else ""
    if suffix not in allowed:
        raise UnreadableFileError(
            f"{label}: files of type '{suffix or '(none)'}' are not read here; upload a "
            f"{', '.join(allowed)} file.", source=label)
    return suffix


def write_upload(data: bytes, name, *, directory, allowed) -> Path:
    """Write uploaded bytes to a new file in ``directory`` named by the tool; return its path.

    The file is created with :func:`tempfile.mkstemp` (exclusive, mode 0600) and ends in the checked
    extension, so readers that go by extension still work; nothing of the client's name but that
    extension reaches the file system.
    """
    suffix = upload_suffix(name, allowed)
    fd, path = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=directory)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return Path(path)
