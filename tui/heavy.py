"""The heavy libraries (torch, transformers, trl, peft, datasets), imported once, in one background
thread started when the wizard opens.

Two threads importing transformers at the same moment can see half-initialised modules ("cannot
import name 'TrainingArguments'"), so workers never import them on their own first: they call
`ready()`, which waits for the warm-up. The first screen is interactive before any of it is loaded.
"""

from __future__ import annotations

import importlib
import threading

from engine import fields
from engine.i18n import _

MODULES = ("torch", "transformers", "datasets", "peft", "trl", "trl.trainer.sft_trainer")
_done = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_error: BaseException | None = None


def _import_all() -> None:
    global _error
    try:
        for name in MODULES:
            importlib.import_module(name)
    except BaseException as e:  # reported to every waiting worker
        _error = e
    finally:
        _done.set()


def _wait_in_workers() -> None:
    """engine.fields imports trl for a key newer than its snapshot: in the wizard, only after the warm-up."""
    if threading.current_thread() is not _thread:
        ready()  # (starts the warm-up when nothing has yet)


fields.before_import = _wait_in_workers


def warm_up() -> None:
    """Start importing in the background (once)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, name="tunewiz-warm-up", daemon=True)
            _thread.start()


def ready() -> None:
    """Block (in a worker thread) until the libraries are imported; raises what the import raised."""
    warm_up()
    _done.wait()
    if _error is not None:
        raise ImportError(_("could not import the training libraries: {error}").format(error=_error)) from _error
