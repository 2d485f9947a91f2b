"""Words and numbers as tunewiz prints them: durations and counted nouns (the terminal, the wizard, the monitor)."""

from __future__ import annotations


def duration(s: float) -> str:
    """Seconds as 12m05s, or 3h07m from an hour on (progress lines, the monitor, the smoke test's ETA)."""
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """`1 step`, `2 steps`, `1,200 steps`."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
