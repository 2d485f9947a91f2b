"""The preset dialogs: PresetsScreen picks a shipped preset or one of the user's own (each listed with its
header comment) and returns its path; SavePresetScreen writes the current config as a preset, never
replacing a file without an explicit second confirmation."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine import presets
from engine.config import Config
from engine.errors import TunewizError
from engine.i18n import N_, _
from tui.lang import translate_bindings


def user_dir_of(app: object) -> Path:
    """The app's preset folder (TunewizApp(preset_dir=...)) or the per-user default."""
    return getattr(app, "preset_dir", None) or presets.user_preset_dir()


def follow_name(cfg: Config, old: str, new: str) -> Config:
    """A copy saved under another name runs into its own folder: an output_dir named after the preset it came
    from (runs/<old name>) becomes runs/<new name>; any other output_dir is the user's choice and stays (#14)."""
    out_dir = str(cfg.training.get("output_dir") or "").rstrip("/")
    if new == old or out_dir not in (f"runs/{old}", f"./runs/{old}"):
        return cfg
    cfg = cfg.model_copy(deep=True)
    cfg.training["output_dir"] = f"runs/{new}"
    return cfg


class PresetsScreen(ModalScreen[str | None]):
    """Pick a preset to load; dismisses with its path, or None on Escape."""

    CSS_PATH = "presets.tcss"
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), show=True)]

    def __init__(self, user_dir: Path | None = None) -> None:
        super().__init__()
        translate_bindings(self)
        self._user_dir = user_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="presets-box"):
            yield Label("[b]" + _("Load a preset") + "[/]  [dim]" + _("Enter loads it (it replaces every choice); Esc cancels") + "[/]",
                        id="presets-title")
            yield OptionList(id="preset-list")
            yield Static("", id="preset-header")
        yield Footer()

    def on_mount(self) -> None:
        folder = self._user_dir or user_dir_of(self.app)
        found = presets.list_presets(folder)
        self._files = {str(p.path): p for p in found}
        box = self.query_one("#preset-list", OptionList)
        options: list[Option | None] = [Option("[b $accent]" + _("Shipped with tunewiz") + "[/]", disabled=True)]
        options += [self._option(p) for p in found if p.source == "shipped"]
        options.append(Option("[b $accent]" + _("Yours") + f"[/] [dim]({presets.display_path(folder)})[/]", disabled=True))
        mine = [self._option(p) for p in found if p.source == "yours"]
        options += mine or [Option("[dim]  " + _("none yet: the Review step saves one (ctrl+s)") + "[/]", disabled=True)]
        box.add_options(options)
        box.highlighted = 1
        box.focus()

    @staticmethod
    def _option(p: presets.PresetFile) -> Option:
        return Option(f"  [b]{escape(p.name)}[/]\n    [dim]{escape(p.title)}[/]", id=str(p.path))

    @on(OptionList.OptionHighlighted, "#preset-list")
    def _show_header(self, event: OptionList.OptionHighlighted) -> None:
        p = self._files.get(str(event.option.id))
        rest = p.header.splitlines()[1:] if p else []
        self.query_one("#preset-header", Static).update(escape("\n".join(rest)) or " ")

    @on(OptionList.OptionSelected, "#preset-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SavePresetScreen(ModalScreen[str | None]):
    """Name and folder for the preset; writes it (header comment included) and dismisses with its path."""

    CSS_PATH = "presets.tcss"
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), show=True)]

    def __init__(self, cfg: Config, name: str, folder: Path, hardware: str = "") -> None:
        super().__init__()
        translate_bindings(self)
        self._cfg, self._preset_name, self._folder, self._hardware = cfg, name, folder, hardware
        self._confirmed: Path | None = None  # the existing file the user agreed to replace

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box"):
            yield Label("[b]" + _("Save as preset") + "[/]", id="save-title")
            with Horizontal(classes="row"):
                yield Label(_("Name"), classes="field-label")
                yield Input(self._preset_name, placeholder="my-model-lora", id="save-name")
            with Horizontal(classes="row"):
                yield Label(_("Folder"), classes="field-label")
                yield Input(presets.display_path(self._folder), id="save-folder")
            yield Static("", id="save-target")
            yield Static("[dim]" + _("Its header comment says what it trains, on what hardware, and the command.") + "[/]",
                         id="save-hint")
            yield Static("", id="save-message")
            with Horizontal(id="save-buttons"):
                yield Button(_("Cancel"), id="save-cancel")
                yield Button(_("Save"), id="save-ok", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self._show_target()
        self.query_one("#save-name", Input).focus()

    def _target(self) -> Path:
        return presets.preset_path(self.query_one("#save-folder", Input).value.strip(), self.query_one("#save-name", Input).value)

    @on(Input.Changed)
    def _show_target(self) -> None:
        self._confirm(None)
        try:
            target = "[dim]" + _("writes") + f"[/] {presets.display_path(self._target())}"
        except TunewizError as e:
            target = "[dim]" + _("writes") + f"[/] [red]? ({e.problems[0].where}: {e.problems[0].what})[/]"
        self.query_one("#save-target", Static).update(target)
        self.query_one("#save-message", Static).update("")

    def _confirm(self, path: Path | None) -> None:
        self._confirmed = path
        ok = self.query_one("#save-ok", Button)
        ok.label = _("Replace it") if path else _("Save")
        ok.variant = "error" if path else "primary"

    @on(Input.Submitted)
    @on(Button.Pressed, "#save-ok")
    def action_save(self) -> None:
        message = self.query_one("#save-message", Static)
        try:
            path = self._target()
            if path.exists() and self._confirmed != path:
                self._confirm(path)
                message.update("[b yellow]" + _("{path} already exists.").format(path=presets.display_path(path)) + "[/] "
                               + _("Press {button} to overwrite it, or change the name.").format(
                                   button="[b]" + _("Replace it") + "[/]"))
                return
            cfg = follow_name(self._cfg, self._preset_name, path.stem)
            header = presets.header_for(cfg, path, self._hardware)
            presets.save_preset(cfg, path, header, overwrite=self._confirmed == path)
        except FileExistsError:  # written by someone else since the check
            self._confirm(None)
            message.update("[b yellow]" + _("That file appeared meanwhile.") + "[/] "
                           + _("Press Save again to see it and decide."))
            return
        except TunewizError as e:
            message.update("\n".join(f"[red]{p.where}: {p.what}[/]" + ("\n  " + _("fix: {fix}").format(fix=p.fix) if p.fix else "")
                                     for p in e.problems))
            return
        self.dismiss(str(path))

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
