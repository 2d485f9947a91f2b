"""`tunewiz chat RUN` in a real terminal (tmux, 80x24), keys only: the question and an answer in both panes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import trained
from tests.e2e.test_wizard_tmux import Terminal

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]
TUNEWIZ = str(Path(sys.executable).with_name("tunewiz"))


def wait_count(term: Terminal, text: str, n: int, timeout: float) -> str:
    t0 = time.time()
    while time.time() - t0 < timeout:
        shown = term.screen()
        if shown.count(text) >= n:
            return shown
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared {n} times; the screen shows:\n{term.screen()}")


def test_chat_answers_in_both_panes_in_a_terminal(tmp_path):
    run = trained.identity_run()
    env = {"HF_HUB_OFFLINE": "1", "TUNEWIZ_REGISTRY": os.environ["TUNEWIZ_REGISTRY"], "TERM": "xterm-256color"}
    term = Terminal(f"tw-chat-{os.getpid()}", f"{TUNEWIZ} chat {run} --max-new-tokens 6", tmp_path, env)
    subprocess.run(["tmux", "resize-window", "-t", term.name, "-x", "80", "-y", "24"], capture_output=True)
    try:
        term.wait("LoRA, one model copy", timeout=180)  # loaded
        term.type("What is your name?")
        term.keys("Enter")
        shown = wait_count(term, "tok/s", 2, timeout=180)  # both answers finished, with their speed
        assert "tuned · final" in shown and "base · demo:smollm2-135m-instruct" in shown
        assert shown.count("you: What is your name?") == 2
        term.keys("C-q")
        t0 = time.time()
        while "tok/s" in term.screen():
            assert time.time() - t0 < 30, "ctrl+q did not quit"
            time.sleep(0.3)
    finally:
        term.kill()
