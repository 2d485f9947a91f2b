"""Messages that more than one screen's workers post (a screen's own are defined beside it). A thread worker
never touches widgets: it posts one of these to its screen, whose `@on` handler updates the view."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ModelInspected(Message):
    """A model reference was inspected (engine.inspect, no weights loaded): its info, or what is wrong with it."""

    def __init__(self, ref: str, info: Any, error: str | None) -> None:
        super().__init__()
        self.ref, self.info, self.error = ref, info, error
