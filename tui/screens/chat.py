"""Try a run's result: the tuned model and the base model answer the same conversation side by side.

The model loads in a thread worker (engine.generate.load, injected as `loader=` so tests can feed a fake);
answers stream into both panes from a thread worker that only posts messages. One model copy answers
for both sides, so the tuned answer comes first, then the base answer. Each side keeps its own history
(multi-turn: each model continues its own conversation). A classifier run shows label probabilities.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, Static

from engine.generate import WHICH, Answer, Settings, summary
from engine.i18n import N_, _, ngettext
from tui.lang import translate_bindings

FIELDS = (("max_new_tokens", int), ("temperature", float), ("top_p", float), ("repetition_penalty", float))
SIDES = {"tuned": N_("tuned"), "base": N_("base")}  # the panes' titles (engine.generate.WHICH)


def load_result(run_dir: Path) -> Any:
    """engine.generate.load, once the heavy libraries are imported (tui/heavy.py); in a worker thread."""
    from engine import generate
    from tui import heavy

    heavy.ready()
    return generate.load(run_dir)


class ChatLoaded(Message):
    """The run's result is loaded and can answer."""

    def __init__(self, chat: Any) -> None:
        super().__init__()
        self.chat = chat


class ChatFailed(Message):
    """Loading or generating failed; `text` says why."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class AnswerStreamed(Message):
    """More of one side's answer (the whole text so far: a late message replaces an earlier one)."""

    def __init__(self, which: str, text: str) -> None:
        super().__init__()
        self.which, self.text = which, text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, AnswerStreamed) and message.which == self.which


class AnswerFinished(Message):
    """One side's answer is complete (or stopped)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer


class ClassifiedText(Message):
    """Label probabilities for one text, tuned and base."""

    def __init__(self, text: str, probs: dict[str, list[tuple[str, float]]]) -> None:
        super().__init__()
        self.text, self.probs = text, probs


class AnswersEnded(Message):
    """The worker that answered (or classified) has ended: a new message can be sent."""


class ChatScreen(Screen):
    """A/B chat with a run's result (tuned | base)."""

    CSS_PATH = "chat.tcss"
    BINDINGS = [
        Binding("escape", "stop", N_("Stop answer")),
        Binding("ctrl+t", "toggle_sample", N_("Greedy/sample")),
        Binding("ctrl+n", "new_chat", N_("New chat")),
        Binding("ctrl+s", "system", N_("System prompt")),
        Binding("ctrl+p", "close", N_("Back")),
        Binding("ctrl+q", "app.quit", N_("Quit")),
    ]

    def __init__(self, run_dir: str | Path, settings: Settings | None = None, system: str | None = None,
                 loader: Callable[[Path], Any] | None = None, **kw: Any):
        super().__init__(**kw)
        translate_bindings(self)
        self.run_dir = Path(run_dir)
        self.settings = settings or Settings()
        self.system = system
        self.loader = loader
        self.chat: Any = None
        self.history: dict[str, list[dict[str, str]]] = {w: [] for w in WHICH}
        self.generating = False
        self._cancel = threading.Event()
        self._answer: dict[str, Static] = {}
        self._title = f"[b]{escape(self.run_dir.name)}[/]"

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{escape(self.run_dir.name)}[/] · " + _("loading the result..."), id="chat-title")
        with Horizontal(id="chat-panes"):
            for which in WHICH:
                pane = VerticalScroll(id=f"chat-{which}", classes="chat-pane")
                pane.border_title = _(SIDES[which])
                pane.can_focus = False
                with pane:
                    yield Static("[dim]" + _("loading...") + "[/]", classes="chat-note")
        with Horizontal(id="chat-settings"):
            for name, _kind in FIELDS:
                yield Label(name, classes="chat-setting-label")
                yield Input(str(getattr(self.settings, name)), id=f"set-{name}", classes="chat-setting")
            yield Static("", id="chat-sample")
        yield Input(placeholder=_("Type a message, Enter sends"), id="chat-input")
        yield Footer()

    def on_mount(self) -> None:
        self._show_sample()
        self.query_one("#chat-input", Input).focus()
        self._load()

    # ------------------------------------------------------------------------------------ workers
    @work(thread=True, exclusive=True, group="chat-load")
    def _load(self) -> None:
        try:
            chat = (self.loader or load_result)(self.run_dir)
        except Exception as e:  # shown on the screen; the user can go back
            self.post_message(ChatFailed(_("could not load the result: {why}").format(why=_why(e))))
            return
        self.post_message(ChatLoaded(chat))

    @work(thread=True, exclusive=True, group="chat-generate")
    def _generate(self, settings: Settings) -> None:
        try:
            for which in WHICH:
                text = ""
                for piece in self.chat.stream(self.history[which], which, settings, cancel=self._cancel):
                    if isinstance(piece, Answer):
                        self.post_message(AnswerFinished(piece))
                    else:
                        text += piece
                        self.post_message(AnswerStreamed(which, text))
                if self._cancel.is_set():
                    break
        except Exception as e:
            self.post_message(ChatFailed(_("generation failed: {why}").format(why=_why(e))))
        finally:
            self.post_message(AnswersEnded())

    @work(thread=True, exclusive=True, group="chat-generate")
    def _classify(self, text: str) -> None:
        try:
            probs = {which: self.chat.classify(text, which) for which in WHICH}
        except Exception as e:
            self.post_message(ChatFailed(_("classification failed: {why}").format(why=_why(e))))
        else:
            self.post_message(ClassifiedText(text, probs))
        finally:
            self.post_message(AnswersEnded())

    def on_answers_ended(self) -> None:
        self.generating = False

    # ----------------------------------------------------------------------------------- messages
    def on_chat_loaded(self, msg: ChatLoaded) -> None:
        self.chat = msg.chat
        src = self.chat.source
        device = getattr(getattr(self.chat.model, "device", None), "type", "")
        threads = getattr(self.chat, "threads", None)
        if threads:
            device += " (" + ngettext("{n} thread", "{n} threads", threads).format(n=threads) + ")"
        kind = _("LoRA, one model copy") if src.lora else _("full fine-tune")
        self._title = f"[b]{escape(self.run_dir.name)}[/] · {escape(src.label)} · {kind} · {device}"
        self._show_system()
        self.query_one("#chat-tuned", VerticalScroll).border_title = _(SIDES["tuned"]) + f" · {src.label}"
        self.query_one("#chat-base", VerticalScroll).border_title = \
            (_("untrained head") if self.chat.is_classifier else _(SIDES["base"])) + f" · {src.base}"
        hint = _("Type a text, Enter shows the label probabilities") if self.chat.is_classifier else _("Type a message, Enter sends")
        self.query_one("#chat-input", Input).placeholder = hint
        self.query_one("#chat-settings").display = not self.chat.is_classifier
        for which in WHICH:
            pane = self.query_one(f"#chat-{which}", VerticalScroll)
            pane.remove_children()
            pane.mount(Static("[dim]" + _("ready") + "[/]", classes="chat-note"))

    def on_chat_failed(self, msg: ChatFailed) -> None:
        self.query_one("#chat-title", Static).update(f"[b]{escape(self.run_dir.name)}[/] · [red]{escape(msg.text)}[/]")
        self.notify(msg.text, severity="error", timeout=10)

    def on_answer_streamed(self, msg: AnswerStreamed) -> None:
        box = self._answer.get(msg.which)
        if box is not None:
            box.update(escape(msg.text))
            self.query_one(f"#chat-{msg.which}", VerticalScroll).scroll_end(animate=False)

    def on_answer_finished(self, msg: AnswerFinished) -> None:
        ans = msg.answer
        box = self._answer.get(ans.which)
        if box is not None:
            box.update(escape(ans.text) or "[dim]" + _("(no answer)") + "[/]")
        self.history[ans.which].append({"role": "assistant", "content": ans.text})
        self.query_one(f"#chat-{ans.which}", VerticalScroll).border_subtitle = summary(ans, short=True)

    def on_classified_text(self, msg: ClassifiedText) -> None:
        for which in WHICH:
            rows = "\n".join(f"{escape(label)[:16]:16} {p:6.1%} {'█' * round(p * 12)}" for label, p in msg.probs[which])
            pane = self.query_one(f"#chat-{which}", VerticalScroll)
            pane.query(".chat-note").remove()
            pane.mount(Static(f"[b]{escape(msg.text)}[/]\n{rows}", classes="chat-result"))
            pane.scroll_end(animate=False)

    # ------------------------------------------------------------------------------------ actions
    @on(Input.Submitted, "#chat-input")
    def send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.chat is None:
            self.notify(_("Still loading the model"), severity="warning")
            return
        if self.generating:
            self.notify(_("Still answering (esc stops it)"), severity="warning")
            return
        settings = self._read_settings()
        if settings is None:
            return
        event.input.value = ""
        self.generating = True
        self._cancel.clear()
        if self.chat.is_classifier:
            self._classify(text)
            return
        for which in WHICH:
            if not self.history[which] and self.system:
                self.history[which].append({"role": "system", "content": self.system})
            self.history[which].append({"role": "user", "content": text})
            pane = self.query_one(f"#chat-{which}", VerticalScroll)
            pane.query(".chat-note").remove()
            self._answer[which] = Static("[dim]...[/]" if which == "tuned" else "[dim]" + _("(after the tuned answer: one model copy)") + "[/]",
                                         classes="chat-answer")
            pane.mount(Static("[b]" + _("you:") + f"[/] {escape(text)}", classes="chat-user"))
            pane.mount(self._answer[which])
            pane.scroll_end(animate=False)
        self._generate(settings)

    def _read_settings(self) -> Settings | None:
        values: dict[str, Any] = {}
        for name, kind in FIELDS:
            box = self.query_one(f"#set-{name}", Input)
            try:
                values[name] = kind(box.value)
                if values[name] <= 0:
                    raise ValueError
            except ValueError:
                wrong = _("{name}: {value!r} is not a positive whole number") if kind is int else \
                    _("{name}: {value!r} is not a positive number")
                self.notify(wrong.format(name=name, value=box.value), severity="error")
                box.focus()
                return None
        self.settings = Settings(do_sample=self.settings.do_sample, **values)
        return self.settings

    def _show_sample(self) -> None:
        self.query_one("#chat-sample", Static).update("do_sample " + ("[b]" + _("on") + "[/]" if self.settings.do_sample else _("off")))

    def action_toggle_sample(self) -> None:
        self.settings.do_sample = not self.settings.do_sample
        self._show_sample()

    def action_stop(self) -> None:
        if self.generating:
            self._cancel.set()

    def action_new_chat(self) -> None:
        if self.generating:
            self.notify(_("Still answering (esc stops it)"), severity="warning")
            return
        self.history = {w: [] for w in WHICH}
        for which in WHICH:
            pane = self.query_one(f"#chat-{which}", VerticalScroll)
            pane.remove_children()
            pane.border_subtitle = ""
            pane.mount(Static("[dim]" + _("new chat") + "[/]", classes="chat-note"))

    def action_system(self) -> None:
        """Edit the system prompt; a new one starts a new chat (the conversations so far were had without it)."""
        if self.chat is not None and self.chat.is_classifier:
            self.notify(_("A classifier has no system prompt"), severity="warning")
            return
        if self.generating:
            self.notify(_("Still answering (esc stops it)"), severity="warning")
            return

        def done(value: str | None) -> None:
            if value is None or (value.strip() or None) == self.system:
                return
            self.system = value.strip() or None
            self.action_new_chat()
            self._show_system()
            self.notify(_("System prompt set: a new chat") if self.system else
                        _("System prompt cleared: a new chat with the chat template's default"))

        self.app.push_screen(SystemPrompt(self.system or ""), done)

    def _show_system(self) -> None:
        """The title line: the run, the result, the device, and the system prompt when one is set (ctrl+s)."""
        shown = " · " + _("system: {prompt}").format(prompt=escape(self.system[:40] + ("..." if len(self.system) > 40 else ""))) \
            if self.system else ""
        self.query_one("#chat-title", Static).update(self._title + shown)

    def action_close(self) -> None:
        self._cancel.set()
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()




class SystemPrompt(ModalScreen[str | None]):
    """One line: the system prompt of the next conversation (empty: the chat template's own default)."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]
    DEFAULT_CSS = """
    SystemPrompt { align: center middle; }
    #system-box { width: 76; height: auto; border: round $accent; padding: 0 1; background: $surface; }
    #system-box Label { width: 1fr; }  /* the line wraps instead of losing its end */
    """

    def __init__(self, value: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.value = value

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="system-box"):
            yield Label(_("System prompt for a new chat (empty: the chat template's default). Enter sets it, Esc cancels."))
            yield Input(self.value, placeholder=_("e.g. You are a helpful assistant."), id="system-input")

    def on_mount(self) -> None:
        self.query_one("#system-input", Input).focus()

    @on(Input.Submitted, "#system-input")
    def submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _why(e: Exception) -> str:
    problems = getattr(e, "problems", None)
    if problems:
        return "; ".join(str(p) for p in problems)
    return f"{type(e).__name__}: {e}"
