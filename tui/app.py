"""The wizard: a Textual app that owns the one config and walks through the steps.

Each step is an installed screen (its state survives back/next); leaving a step asks it for
problems (Next is blocked while there are any) and then stores its section into `app.cfg`.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from engine.i18n import N_, _
from tui.lang import translate_bindings
from tui.step import StepScreen

if TYPE_CHECKING:
    from engine.config import Config


@dataclass(frozen=True)
class Step:
    """One wizard step: its key (the name its screen is installed under), its title in the step bar, and where
    its screen class is (imported the first time the step is shown, which keeps the first paint fast)."""

    key: str
    title: str
    module: str
    screen: str


STEPS: tuple[Step, ...] = (
    Step("model", N_("Model"), "tui.screens.model", "ModelScreen"),
    Step("dataset", N_("Dataset"), "tui.screens.dataset", "DatasetScreen"),
    Step("preview", N_("Tokens"), "tui.screens.preview", "PreviewScreen"),
    Step("training", N_("Training"), "tui.screens.training", "TrainingScreen"),
    Step("lora", N_("LoRA"), "tui.screens.lora", "LoraScreen"),
    Step("review", N_("Review"), "tui.screens.review", "ReviewScreen"),
)
KEYS = [step.key for step in STEPS]


class PresetRefused(Message):
    """The preset the wizard opened does not validate (from the worker that builds the config): the app ends."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


def choice_of(task: str, method: str) -> str:
    """The model step's one method choice: causal-lm (SFT), dpo, kto, orpo, or sequence-classification."""
    return task if task != "causal-lm" or method == "sft" else method


class TunewizApp(App):
    """The tunewiz wizard."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere (tests, bench) keep it
    TITLE = "tunewiz"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", N_("Quit"), priority=True)]
    steps = STEPS

    def __init__(self, cfg: Config | None = None, source: str | None = None, preset_dir: Path | None = None, *,
                 preset: str | Path | None = None):
        """`cfg`: a validated config. Or `preset`: a preset file, validated in a worker after the first paint
        (the first screen shows its model as written; a preset with problems ends the app with return code 2
        and the problems in `preset_error`). Neither: the defaults, likewise validated after the first paint.
        (Importing pydantic and building engine.config's models costs a good part of the start-up.)"""
        super().__init__()
        translate_bindings(self)
        self._cfg = cfg
        self._cfg_lock = threading.Lock()
        self._preset = None if preset is None else str(preset)
        self.preset_error: Exception | None = None  # the preset given to open does not validate
        self.painted = threading.Event()  # set once the first screen is on the terminal: workers wait for it
        self.source = self._preset if source is None else source  # the preset file this session started from
        self.loaded_preset: dict[str, Any] | None = None
        self._first_model: tuple[str, str] | None = None  # the preset's model and method choice as written
        if cfg is not None:
            from engine import config

            self.loaded_preset = config.to_dict(cfg)
        elif self._preset is not None:
            self._first_model = self._read_first_model(self._preset)
        self.preset_dir = preset_dir
        # facts found by workers that later steps use (model inspection, dataset scan)
        self.model_info: Any = None
        self.dataset_info: Any = None
        self.entering: str | None = None  # the step being switched to: it loads the config when it resumes
        self.saved: dict[str, Any] | None = None  # what the last preset saved here holds (ctrl+q asks if it differs)
        self.launched: Path | None = None  # the run started from the review step (named on the terminal at exit)

    def _read_first_model(self, path: str) -> tuple[str, str] | None:
        """The preset file's model and task for the first paint (a file that cannot be read ends the app)."""
        from engine import config
        from engine.errors import TunewizError

        try:
            data = config.read_yaml(path)
        except TunewizError as e:
            self.preset_error = e
            return None
        model = data.get("model")
        model = model if isinstance(model, dict) else {}
        ref, task = model.get("name_or_path", config.DEFAULT_MODEL), model.get("task", config.TASKS[0])
        method = model.get("method", "sft")
        task = task if task in config.TASKS else config.TASKS[0]  # a bad value fails validation
        return str(ref), choice_of(task, method if method in config.METHODS else "sft")

    def _install(self, step: str) -> None:
        """Import and install a step's screen the first time it is shown (keeps the first paint fast)."""
        if self.is_screen_installed(step):
            return
        found = next(s for s in STEPS if s.key == step)
        self.install_screen(getattr(importlib.import_module(found.module), found.screen)(name=step), name=step)

    @property
    def cfg(self) -> Config:
        """The one config (built on first use from the preset or the defaults when none was given)."""
        if self._cfg is None:
            with self._cfg_lock:
                if self._cfg is None:
                    from engine import config

                    cfg = config.load(self._preset)  # None: the defaults
                    if self._preset is not None:
                        self.loaded_preset = config.to_dict(cfg)
                    self._cfg = cfg
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: Config) -> None:
        with self._cfg_lock:  # never overwritten by a config still being built
            self._cfg = cfg

    def peek_cfg(self) -> Config | None:
        """The config if it is built yet, without building it."""
        return self._cfg

    def first_model(self) -> tuple[str, str]:
        """The model step's model and method choice (see `choice_of`) for the first paint: from the config if there
        is one yet, else from the preset file as written, else the defaults (both validated after the paint)."""
        if self._cfg is not None:
            return self._cfg.model.name_or_path, choice_of(self._cfg.model.task, self._cfg.model.method)
        if self._first_model is not None:
            return self._first_model
        from engine import config

        return config.DEFAULT_MODEL, config.TASKS[0]

    def on_mount(self) -> None:
        if self.preset_error is not None:
            self.exit(return_code=2)
            return
        self._install("model")
        self.entering = "model"
        self.push_screen("model")
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        """The first screen is up: start what would have delayed it."""
        from tui import heavy

        self.painted.set()  # the model step's workers (listing, inspection) start now
        if self._cfg is None:
            self.run_worker(self._validate, thread=True, name="config", group="config")
        # torch & co. load in a background thread once the first screen is up (importing them holds the
        # GIL for seconds: started at once, it would delay the first paint); a worker that needs them first
        # starts it itself (heavy.ready)
        self.set_timer(1.0, heavy.warm_up)

    def _validate(self) -> None:
        """(worker) Build the config from the preset or the defaults; a preset with problems ends the app."""
        from engine.errors import TunewizError

        try:
            _ = self.cfg  # builds it
        except TunewizError as e:
            self.post_message(PresetRefused(e))

    @on(PresetRefused)
    def _cannot_open(self, message: PresetRefused) -> None:
        self.preset_error = message.error
        self.exit(return_code=2)

    def wait_painted(self) -> None:
        """In a worker thread: wait until the first screen is on the terminal (so that its work does not
        compete with the first paint for the interpreter)."""
        self.painted.wait(timeout=5)

    @property
    def step(self) -> str:
        """The key of the step on show ("" under a dialog or the monitor)."""
        return self.screen.STEP if isinstance(self.screen, StepScreen) else ""

    @property
    def step_screen(self) -> StepScreen | None:
        """The step on show (None under a dialog or the monitor)."""
        return self.screen if isinstance(self.screen, StepScreen) else None

    def goto(self, step: str) -> None:
        """Show a step (it refills its widgets from the config when it resumes)."""
        self._install(step)
        self.entering = step
        self.switch_screen(step)

    def _leave(self, screen: StepScreen) -> bool:
        problems = screen.errors()
        screen.show_problems(problems)
        if problems:
            self.notify("\n".join(problems), title=_("Fix before going on"), severity="error")
            return False
        screen.store(self.cfg)
        return True

    def action_next_step(self) -> None:
        screen = self.step_screen
        if screen is None or screen.STEP not in KEYS or KEYS.index(screen.STEP) == len(KEYS) - 1:
            return
        if self._leave(screen):
            self.goto(KEYS[KEYS.index(screen.STEP) + 1])

    def action_prev_step(self) -> None:
        screen = self.step_screen
        if screen is None or screen.STEP not in KEYS or KEYS.index(screen.STEP) == 0:
            return
        problems = screen.errors()
        if problems:  # Back is always open; what cannot be stored is said, not dropped silently (a new user's finding)
            self.notify(_("this step's changes were not kept: {problem}").format(problem=problems[0]),
                        title=_("Back"), severity="warning")
        else:
            screen.store(self.cfg)
        self.goto(KEYS[KEYS.index(screen.STEP) - 1])

    # ------------------------------------------------------------------------------------------ quit
    def unsaved_changes(self) -> list[str]:
        """The choices (the current step's fields included) that no preset file holds: `key: old -> new` lines."""
        from engine import config, presets

        if self.peek_cfg() is None or self.launched is not None:  # nothing built yet; a launched run's config.yaml holds it
            return []
        screen = self.step_screen
        cfg = self.cfg.model_copy(deep=True)
        if screen is not None and not screen.errors():
            screen.store(cfg)  # a step that cannot store yet (a check still running) is compared as last stored
        base = self.saved or self.loaded_preset or config.to_dict(config.load(None))
        return [f"{key}: {presets.yaml_value(old)} -> {presets.yaml_value(new)}" for key, old, new in presets.diff(base, config.to_dict(cfg))]

    async def action_quit(self) -> None:
        """Quit; with unsaved changes, ask first (save a preset / quit without saving / cancel)."""
        from tui.screens.quit import QuitScreen

        if isinstance(self.screen, QuitScreen):  # ctrl+q again in the dialog: quit without saving, as its legend says
            self.screen.dismiss("quit")
            return
        try:
            changes = self.unsaved_changes()
        except Exception:  # never trap the user in the app
            changes = []
        if not changes:
            self.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice == "quit":
                self.exit()
            elif choice == "save":
                self._save_then_quit()

        self.push_screen(QuitScreen(changes), chosen)

    def _save_then_quit(self) -> None:
        from tui.screens.presets import SavePresetScreen, user_dir_of

        screen = self.step_screen
        if screen is not None and not screen.errors():
            screen.store(self.cfg)
        name = Path(self.source).stem if self.source else "my-preset"
        self.push_screen(SavePresetScreen(self.cfg.model_copy(deep=True), name, user_dir_of(self)),
                         lambda saved: self.exit() if saved else None)

    def load_preset(self, path: Path) -> None:
        """Replace every section with a preset file's; problems are shown, nothing is half-loaded."""
        from engine import config
        from engine.errors import TunewizError

        try:
            cfg = config.load(path)
        except TunewizError as e:
            self.notify(str(e), title=_("Cannot load {name}").format(name=path.name), severity="error", timeout=12)
            return
        self.replace_config(cfg, str(path))
        self.notify(_("Loaded {name}").format(name=path.name), title=_("Preset"))

    def replace_config(self, cfg: Config, source: str | None) -> None:
        """A preset was loaded: it replaces every section."""
        from engine import config

        self.cfg = cfg
        self.source = source
        self.loaded_preset = config.to_dict(cfg)
        self.saved = None
        self.model_info = None
        self.dataset_info = None
        if self.step_screen is not None:  # (the model step: presets are loaded there)
            self.step_screen.load(cfg)
