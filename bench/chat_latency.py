"""Chat latency: time to the first token after Enter, and generation tokens/s, once the model is loaded.

    python bench/chat_latency.py [RUN] [--repeats 3] [--max-new-tokens 48] [--threads N]

RUN is a run directory or name (default: a 2-step identity-demo run trained once for this bench, as the
tests train it). Two measures: the engine's stream (engine.generate: first text piece, tokens/s) for the
tuned and the base answer, and the chat screen's Enter-to-first-text (Pilot, 80x24: the key press, the
worker, the streamer and the posted message, until the tuned pane shows text). Target (issue 13): the
first token within 1 s of Enter on the CPU demo once the model is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPTS = ["What is your name?", "Who made you?", "Write one sentence about the sea."]


def engine_rows(run: Path, repeats: int, max_new_tokens: int, threads: int | None) -> tuple[list[list[str]], float]:
    import torch

    from engine import generate

    t0 = time.perf_counter()
    chat = generate.load(run)
    load_s = time.perf_counter() - t0
    if threads:
        torch.set_num_threads(threads)
    settings = generate.Settings(max_new_tokens=max_new_tokens)
    list(chat.stream([{"role": "user", "content": "hi"}], "tuned", generate.Settings(max_new_tokens=4)))  # warm-up
    rows = []
    for which in generate.WHICH:
        firsts, speeds, tokens = [], [], []
        for i in range(repeats):
            ans = list(chat.stream([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], which, settings))[-1]
            firsts.append(ans.first_token_s or float("nan"))
            speeds.append(ans.tokens_per_s or 0.0)
            tokens.append(ans.tokens)
        print(f"  {which}: first token {firsts} s, {speeds} tokens/s", flush=True)
        rows.append([f"engine stream, {which}", f"{statistics.median(firsts):.3f}", f"{max(firsts):.3f}",
                     f"{statistics.median(speeds):.1f}", f"{statistics.median(tokens):.0f}"])
    return rows, load_s


async def screen_row(run: Path, repeats: int, max_new_tokens: int) -> list[str]:
    from textual.widgets import Input

    from engine.generate import Settings
    from tui.chat_app import ChatApp
    from tui.screens import chat as chat_screen

    shown: list[float] = []
    handler = chat_screen.ChatScreen.on_answer_streamed

    def timed(self: chat_screen.ChatScreen, msg: chat_screen.AnswerStreamed) -> None:
        handler(self, msg)  # the pane has the text when this returns
        if msg.which == "tuned" and not shown:
            shown.append(time.perf_counter())

    chat_screen.ChatScreen.on_answer_streamed = timed  # type: ignore[method-assign]
    app = ChatApp(run, settings=Settings(max_new_tokens=max_new_tokens))
    firsts = []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        while screen.chat is None:
            await pilot.pause(0.05)
        for i in range(repeats + 1):  # the first exchange warms up
            screen.query_one("#chat-input", Input).value = PROMPTS[i % len(PROMPTS)]
            shown.clear()
            t0 = time.perf_counter()
            await pilot.press("enter")  # returns once the app is idle again, so the time comes from the handler
            while not shown:
                await pilot.pause(0.01)
            if i:
                firsts.append(shown[0] - t0)
            while screen.generating:
                await pilot.pause(0.05)
    return ["chat screen, Enter to tuned text", f"{statistics.median(firsts):.3f}", f"{max(firsts):.3f}", "-", "-"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", help="run directory or name (default: train a tiny identity-demo run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=None, help="force torch's CPU threads for the engine rows (default: as loaded)")
    a = ap.parse_args()
    if a.run:
        from engine import runs

        run = runs.find(a.run)
    else:
        from tests import trained

        print("training a 2-step identity-demo run ...", flush=True)
        run = trained.identity_run()
    import torch

    rows, load_s = engine_rows(run, a.repeats, a.max_new_tokens, a.threads)
    print(f"loaded in {load_s:.1f} s", flush=True)
    rows.append(asyncio.run(screen_row(run, a.repeats, a.max_new_tokens)))
    print(f"run {run} · device cpu · torch threads {torch.get_num_threads()} (engine.generate.cpu_threads) · cores {os.cpu_count()} · "
          f"load {load_s:.1f} s · load average {os.getloadavg()[0]:.1f}")
    head = ["measure", "first token s (median)", "first token s (max)", "tokens/s", "tokens"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
