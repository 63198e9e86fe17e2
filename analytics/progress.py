"""Progress of long work (imports and exports of large files): which stage, and how far along the whole job.

Functions that take a while accept ``progress``, a callable given one :class:`Progress` at each
step; the command line prints it as a line, the dashboard moves a bar.  Nothing here knows who
listens.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "progress_reporter"]


@dataclass(frozen=True)
class Progress:
    """One step: ``stage`` in plain words, ``fraction`` of the whole job done (0 to 1)."""

    stage: str
    fraction: float

    def to_text(self) -> str:
        return f"{self.fraction:4.0%}  {self.stage}"


ProgressCallback = Callable[[Progress], None]


def progress_reporter(callback: ProgressCallback | None) -> Callable[[str, float], None]:
    """``say(stage, fraction)`` that forwards to ``callback`` (does nothing without one); fractions never go back."""
    if callback is None:
        return lambda stage, fraction: None
    furthest = [0.0]

    def say(stage: str, fraction: float) -> None:
        furthest[0] = max(furthest[0], min(max(float(fraction), 0.0), 1.0))
        callback(Progress(stage, furthest[0]))
    return say
