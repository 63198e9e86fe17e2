"""Clinic settings kept between sessions: today the clinic's name printed on the quarterly report.

A small TOML file, ``$OUTCOMES_SETTINGS`` when set, else ``data/settings.toml``
(beside the default store, git-ignored).  The dashboard's Export page writes it
(director only); the CLI reads it, and ``export --clinic-name`` overrides it for
one report.  A missing file means the defaults of :mod:`analytics.definitions`.
"""
from __future__ import annotations

import json
import os
import tempfile
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .definitions import DEFAULT_CLINIC_NAME, MAX_CLINIC_NAME_CHARS
from .errors import SettingsError

__all__ = ["ClinicSettings", "default_settings_path", "load_settings", "save_settings", "checked_clinic_name"]

DEFAULT_SETTINGS = Path("data") / "settings.toml"
_KEYS = ("clinic_name",)


@dataclass(frozen=True)
class ClinicSettings:
    """What a clinic configures once."""

    clinic_name: str = DEFAULT_CLINIC_NAME


def default_settings_path() -> Path:
    """``$OUTCOMES_SETTINGS`` when set, else ``data/settings.toml``."""
    return Path(os.environ.get("OUTCOMES_SETTINGS") or DEFAULT_SETTINGS)


def checked_clinic_name(name) -> str:
    """The clinic's name, trimmed; refused when empty, too long or holding control characters.

    Raises
    ------
    SettingsError
        Saying what is allowed.
    """
    text = " ".join(str(name if name is not None else "").split())
    if not text:
        raise SettingsError("the clinic's name is empty; type the name to print on the report "
                            f"(or leave the default, {DEFAULT_CLINIC_NAME!r}).")
    if len(text) > MAX_CLINIC_NAME_CHARS:
        raise SettingsError(f"the clinic's name has {len(text)} characters; at most {MAX_CLINIC_NAME_CHARS} "
                            "are allowed (it is a heading).")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in text):
        raise SettingsError("the clinic's name contains control or invisible characters; use letters, digits, "
                            "spaces and punctuation only.")
    return text


def load_settings(path=None) -> ClinicSettings:
    """The saved settings (defaults for a missing file).

    Raises
    ------
    SettingsError
        The file cannot be read or parsed (the message names the file and line), or a value is not allowed.
    """
    path = Path(path) if path is not None else default_settings_path()
    if not path.exists():
        return ClinicSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: the settings file could not be read ({exc}); fix or delete it.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: the settings file is not valid TOML ({exc}); fix or delete it "
                            "(the Export page writes a new one when you save the clinic's name).") from None
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}.")
    name = data.get("clinic_name", DEFAULT_CLINIC_NAME)
    if not isinstance(name, str):
        raise SettingsError(f"{path}: clinic_name must be text in quotes, e.g. clinic_name = \"Riverside Clinic\".")
    try:
        return ClinicSettings(clinic_name=checked_clinic_name(name))
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def save_settings(settings: ClinicSettings, path=None) -> Path:
    """Write ``settings`` (checked first); the file is replaced in one step, never left half-written."""
    path = Path(path) if path is not None else default_settings_path()
    name = checked_clinic_name(settings.clinic_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a JSON string without control characters is a valid TOML basic string
    text = "# Clinic settings (written by the dashboard's Export page)\n" \
           f"clinic_name = {json.dumps(name, ensure_ascii=False)}\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
