"""The wizard: a Textual app that owns the one config and walks through the steps.

Each step is an installed screen (its state survives back/next); leaving a step asks it for
problems (Next is blocked while there are any) and then stores its section into `app.cfg`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding

from engine import config

STEPS: list[tuple[str, str]] = [
    ("model", "Model"),
    ("dataset", "Dataset"),
    ("preview", "Tokens"),
    ("training", "Training"),
    ("lora", "LoRA"),
    ("review", "Review"),
]


STEP_SCREENS: dict[str, tuple[str, str]] = {
    "model": ("tui.screens.model", "ModelScreen"),
    "dataset": ("tui.screens.dataset", "DatasetScreen"),
    "preview": ("tui.screens.preview", "PreviewScreen"),
    "training": ("tui.screens.training", "TrainingScreen"),
    "lora": ("tui.screens.lora", "LoraScreen"),
    "review": ("tui.screens.review", "ReviewScreen"),
}


class TunewizApp(App):
    """The tunewiz wizard."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere (tests, bench) keep it
    TITLE = "tunewiz"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, cfg: config.Config | None = None, source: str | None = None, preset_dir: Path | None = None):
        super().__init__()
        self.cfg = cfg or config.load(None)
        self.source = source  # the preset file this session started from, if any
        self.loaded_preset: dict[str, Any] | None = config.to_dict(self.cfg) if cfg is not None else None
        self.preset_dir = preset_dir
        # facts found by workers that later steps use (model inspection, dataset scan)
        self.model_info: Any = None
        self.dataset_info: Any = None
        self.entering: str | None = None  # the step being switched to: it loads the config when it resumes

    def _install(self, step: str) -> None:
        """Import and install a step's screen the first time it is shown (keeps the first paint fast)."""
        if self.is_screen_installed(step):
            return
        import importlib

        module, cls = STEP_SCREENS[step]
        self.install_screen(getattr(importlib.import_module(module), cls)(name=step), name=step)

    def on_mount(self) -> None:
        from tui import heavy

        # torch & co. load in a background thread once the first screen is up (importing them holds the
        # GIL for seconds: started at once, it would delay the first paint); a worker that needs them first
        # starts it itself (heavy.ready)
        self.set_timer(1.0, heavy.warm_up)
        self._install("model")
        self.entering = "model"
        self.push_screen("model")

    @property
    def step(self) -> str:
        return getattr(self.screen, "STEP", "")

    def goto(self, step: str) -> None:
        """Show a step (it refills its widgets from the config when it resumes)."""
        self._install(step)
        self.entering = step
        self.switch_screen(step)

    def _leave(self) -> bool:
        screen = self.screen
        problems = screen.errors()  # type: ignore[attr-defined]
        screen.show_problems(problems)  # type: ignore[attr-defined]
        if problems:
            self.notify("\n".join(problems), title="Fix before going on", severity="error")
            return False
        screen.store(self.cfg)  # type: ignore[attr-defined]
        return True

    def action_next_step(self) -> None:
        keys = [k for k, _ in STEPS]
        if self.step not in keys or keys.index(self.step) == len(keys) - 1:
            return
        if self._leave():
            self.goto(keys[keys.index(self.step) + 1])

    def action_prev_step(self) -> None:
        keys = [k for k, _ in STEPS]
        if self.step not in keys or keys.index(self.step) == 0:
            return
        screen = self.screen
        if not screen.errors():  # type: ignore[attr-defined]
            screen.store(self.cfg)  # type: ignore[attr-defined]
        self.goto(keys[keys.index(self.step) - 1])

    def load_preset(self, path: Path) -> None:
        """Replace every section with a preset file's; problems are shown, nothing is half-loaded."""
        from engine.errors import TunewizError

        try:
            cfg = config.load(path)
        except TunewizError as e:
            self.notify(str(e), title=f"Cannot load {path.name}", severity="error", timeout=12)
            return
        self.replace_config(cfg, str(path))
        self.notify(f"Loaded {path.name}", title="Preset")

    def replace_config(self, cfg: config.Config, source: str | None) -> None:
        """A preset was loaded: it replaces every section."""
        self.cfg = cfg
        self.source = source
        self.loaded_preset = config.to_dict(cfg)
        self.model_info = None
        self.dataset_info = None
        self.screen.load(cfg)  # type: ignore[attr-defined]
