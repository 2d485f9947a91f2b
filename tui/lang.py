"""The TUI's side of engine.i18n: key legends (Textual bindings, defined once per class with N_() descriptions)
shown in the user's language."""

from __future__ import annotations

from dataclasses import replace

from textual.dom import DOMNode

from engine.i18n import _


def translate_bindings(node: DOMNode) -> None:
    """Give `node`'s own copy of its bindings descriptions and tooltips in the user's language (call in __init__)."""
    node._bindings.key_to_bindings = {
        key: [replace(b, description=_(b.description), tooltip=_(b.tooltip)) for b in bindings]
        for key, bindings in node._bindings.key_to_bindings.items()}
