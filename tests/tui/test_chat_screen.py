"""The chat screen: answers stream into both panes, the input stays live while they do, settings by their
GenerationConfig names, a classifier's probabilities, the monitor's key; a fake chat (injected loader)
for the screen's behaviour and the real identity demo run for the whole path."""

import shutil
import threading
import time
from types import SimpleNamespace

import pytest
from textual.app import App
from textual.widgets import Input, Static

from engine.generate import Answer, Settings
from tests.conftest import PRESETS
from tui.chat_app import ChatApp
from tui.screens.chat import ChatScreen

RECORDED = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "runs"


class FakeChat:
    """Answers 'I am the tuned model.' / 'I am the base model.' word by word; `gate` holds each word."""

    def __init__(self, classifier: bool = False, gate: threading.Event | None = None):
        self.source = SimpleNamespace(label="final", base="demo:smollm2-135m-instruct", lora=True)
        self.model = SimpleNamespace(device=SimpleNamespace(type="cpu"))
        self.is_classifier = classifier
        self.gate = gate
        self.calls: list[tuple[str, list[dict], Settings]] = []

    def stream(self, messages, which, settings, cancel=None):
        self.calls.append((which, [dict(m) for m in messages], settings))
        words = f"I am the {which} model.".split(" ")
        text = ""
        for i, word in enumerate(words):
            if self.gate is not None:
                self.gate.wait(10)
            if cancel is not None and cancel.is_set():
                break
            piece = word if i == 0 else " " + word
            text += piece
            yield piece
        yield Answer(which, text, tokens=len(text.split()), seconds=0.5, first_token_s=0.12,
                     stopped=bool(cancel and cancel.is_set()))

    def classify(self, text, which):
        return [("positive", 0.91), ("negative", 0.09)] if which == "tuned" else [("negative", 0.52), ("positive", 0.48)]


def host(chat: FakeChat, tmp_path, **kw) -> ChatApp:
    return ChatApp(tmp_path / "identity-demo", loader=lambda _run: chat, **kw)


async def until(pilot, pred, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not pred():
        assert time.monotonic() - t0 < timeout, "timed out"
        await pilot.pause(0.05)


def pane_text(app, which: str) -> str:
    return "\n".join(str(s.render()) for s in app.screen.query(f"#chat-{which} Static"))


async def send(pilot, text: str) -> None:
    pilot.app.screen.query_one("#chat-input", Input).value = text
    await pilot.press("enter")


async def test_answers_stream_into_both_panes_and_the_conversation_goes_on(tmp_path):
    chat = FakeChat()
    app = host(chat, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None)
        await send(pilot, "What is your name?")
        await until(pilot, lambda: not screen.generating)
        await pilot.pause()
        assert "I am the tuned model." in pane_text(app, "tuned") and "I am the base model." in pane_text(app, "base")
        assert "What is your name?" in pane_text(app, "base")
        assert "first 0.12 s" in app.screen.query_one("#chat-tuned").border_subtitle
        await send(pilot, "Who made you?")
        await until(pilot, lambda: not screen.generating and len(chat.calls) == 4)
        which, messages, _ = chat.calls[-2]
        # each side continues its own conversation: the tuned model sees its own earlier answer
        assert which == "tuned" and [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[1]["content"] == "I am the tuned model."
        assert chat.calls[-1][1][1]["content"] == "I am the base model."


async def test_the_input_takes_keys_while_answering_and_esc_stops(tmp_path):
    gate = threading.Event()
    chat = FakeChat(gate=gate)
    app = host(chat, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None)
        await send(pilot, "hi")
        assert screen.generating
        await pilot.press("a", "b")  # typed while the worker waits on the model
        assert screen.query_one("#chat-input", Input).value == "ab" and screen.generating
        await pilot.press("enter")  # a second message waits for the answer
        assert len(chat.calls) == 1 and screen.query_one("#chat-input", Input).value == "ab"
        await pilot.press("escape")
        gate.set()
        await until(pilot, lambda: not screen.generating)
        assert "stopped" in screen.query_one("#chat-tuned").border_subtitle
        assert [c[0] for c in chat.calls] == ["tuned"]  # a stopped answer stops the base answer too


async def test_settings_by_their_generation_config_names(tmp_path):
    chat = FakeChat()
    app = host(chat, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None)
        screen.query_one("#set-max_new_tokens", Input).value = "7"
        screen.query_one("#set-temperature", Input).value = "1.3"
        await pilot.press("ctrl+t")
        assert "on" in str(screen.query_one("#chat-sample", Static).render())
        await send(pilot, "hi")
        await until(pilot, lambda: not screen.generating and len(chat.calls) == 2)
        s = chat.calls[0][2]
        assert (s.max_new_tokens, s.temperature, s.do_sample) == (7, 1.3, True)
        screen.query_one("#set-max_new_tokens", Input).value = "lots"
        await send(pilot, "again")
        await pilot.pause()
        assert len(chat.calls) == 2 and screen.focused is screen.query_one("#set-max_new_tokens", Input)


async def test_a_classifier_shows_both_probability_tables(tmp_path):
    app = host(FakeChat(classifier=True), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None)
        assert not screen.query_one("#chat-settings").display
        assert "untrained head" in screen.query_one("#chat-base").border_title
        await send(pilot, "a lovely film")
        await until(pilot, lambda: not screen.generating)
        await pilot.pause()
        assert "positive" in pane_text(app, "tuned") and "91.0%" in pane_text(app, "tuned")
        assert "52.0%" in pane_text(app, "base")


async def test_a_load_failure_is_shown(tmp_path):
    def broken(_run):
        raise RuntimeError("no weights here")

    app = ChatApp(tmp_path / "x", loader=broken)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "no weights here" in str(app.screen.query_one("#chat-title", Static).render()))


async def _exchange(pilot):
    """The snapshots' one question, answered (English and Korean)."""
    screen = pilot.app.screen
    await until(pilot, lambda: screen.chat is not None)
    await send(pilot, "What is your name?")
    await until(pilot, lambda: not screen.generating)
    await pilot.pause()


def test_snapshot_chat(snap_compare, tmp_path):
    assert snap_compare(host(FakeChat(), tmp_path), terminal_size=(80, 24), run_before=_exchange)


class MonitorHost(App):
    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir

    def on_mount(self):
        from tui.screens.monitor import MonitorScreen

        self.push_screen(MonitorScreen(self.run_dir, interval=0))


async def test_the_monitor_opens_the_chat_of_a_finished_run_only(tmp_path, monkeypatch):
    from tui.screens import chat

    monkeypatch.setattr(chat, "load_result", lambda run_dir: FakeChat())
    running = tmp_path / "running"
    shutil.copytree(RECORDED / "running", running)
    app = MonitorHost(running)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        assert not isinstance(app.screen, ChatScreen)
    finished = tmp_path / "finished"
    shutil.copytree(RECORDED / "finished", finished)
    shutil.copy(PRESETS / "smollm2-identity-lora.yaml", finished / "config.yaml")
    (finished / "final").mkdir(exist_ok=True)
    (finished / "final" / "adapter_model.safetensors").write_bytes(b"x")
    app = MonitorHost(finished)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        assert isinstance(app.screen, ChatScreen)
        await until(pilot, lambda: app.screen.chat is not None)
        await pilot.press("ctrl+p")
        assert not isinstance(app.screen, ChatScreen)


@pytest.mark.slow
async def test_the_identity_demo_answers_in_both_panes(tmp_path):
    from tests import trained

    app = ChatApp(trained.identity_run(), settings=Settings(max_new_tokens=8))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None, timeout=300)
        await send(pilot, "What is your name?")
        await pilot.press("x")  # the UI is live while the model generates
        assert screen.query_one("#chat-input", Input).value == "x"
        await until(pilot, lambda: not screen.generating, timeout=300)
        await pilot.pause()
        for which in ("tuned", "base"):
            answers = [str(s.render()) for s in screen.query(f"#chat-{which} .chat-answer")]
            assert answers and answers[0].strip() and "tok/s" in screen.query_one(f"#chat-{which}").border_subtitle
        assert [m["role"] for m in screen.history["base"]] == ["user", "assistant"]


async def test_the_system_prompt_is_edited_and_starts_a_new_chat_that_uses_it(tmp_path):
    from tui.screens.chat import SystemPrompt

    chat = FakeChat()
    app = host(chat, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None)
        await send(pilot, "hi")
        await until(pilot, lambda: not screen.generating)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SystemPrompt))
        app.screen.query_one("#system-input", Input).value = "You are Tuney, a pirate."
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        assert screen.system == "You are Tuney, a pirate." and screen.history == {"tuned": [], "base": []}
        assert "system: You are Tuney, a pirate." in str(screen.query_one("#chat-title", Static).render())
        await send(pilot, "who are you?")
        await until(pilot, lambda: not screen.generating)
        sent = [msgs for which, msgs, _ in chat.calls if which == "tuned"][-1]
        assert sent[0] == {"role": "system", "content": "You are Tuney, a pirate."} and sent[1]["content"] == "who are you?"
        await pilot.press("ctrl+s")  # cleared: the template's own default again
        await until(pilot, lambda: isinstance(app.screen, SystemPrompt))
        app.screen.query_one("#system-input", Input).value = ""
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        assert screen.system is None and "system:" not in str(screen.query_one("#chat-title", Static).render())


# ------------------------------------------------------------------------------------------------- Korean (#18)
def test_snapshot_chat_ko(snap_compare, tmp_path, korean):
    assert snap_compare(host(FakeChat(), tmp_path), terminal_size=(80, 24), run_before=_exchange)


async def test_the_chat_speaks_korean(tmp_path, korean):
    chat = FakeChat()
    app = host(chat, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.chat is not None)
        assert screen.query_one("#chat-tuned").border_title == "튜닝 · final"
        assert "기본 · demo:smollm2-135m-instruct" == screen.query_one("#chat-base").border_title
        assert screen.query_one("#chat-input", Input).placeholder == "메시지를 입력하세요. Enter로 보냅니다"
        await send(pilot, "hi")
        await until(pilot, lambda: not screen.generating)
        await pilot.pause()
        assert "나:" in pane_text(app, "tuned") and "첫 토큰 0.12초" in screen.query_one("#chat-tuned").border_subtitle
        screen.query_one("#set-max_new_tokens", Input).value = "lots"
        await send(pilot, "again")
        await pilot.pause()
        assert any("양의 정수가 아닙니다" in str(n.message) for n in app._notifications)
