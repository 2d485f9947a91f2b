"""Preset files as things to list, compare and save: the shipped ones (presets/) and the user's own
(a per-user folder), the difference between two presets, the `tunewiz run` command that repeats a
config, and writing a preset without ever replacing a file unasked or leaving half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine import config
from engine.errors import TunewizError
from engine.i18n import _

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "presets"
REMOVED = object()  # a key the older mapping has and the newer one does not


@dataclass(frozen=True)
class PresetFile:
    """One preset on disk: its path, the first line of its header comment, shipped or the user's."""

    path: Path
    title: str
    header: str
    source: str  # "shipped" | "yours"

    @property
    def name(self) -> str:
        return self.path.stem


def user_preset_dir() -> Path:
    """Where the user's presets live: $TUNEWIZ_PRESETS, else ~/.config/tunewiz/presets."""
    env = os.environ.get("TUNEWIZ_PRESETS")
    return Path(env).expanduser() if env else Path.home() / ".config" / "tunewiz" / "presets"


def list_presets(user_dir: Path | None = None, shipped_dir: Path | None = None) -> list[PresetFile]:
    """Shipped presets then the user's, each sorted by name, with their header comment."""
    out = []
    for folder, source in ((shipped_dir or SHIPPED_DIR, "shipped"), (user_dir or user_preset_dir(), "yours")):
        files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")], key=lambda p: p.stem) if folder.is_dir() else []
        for p in files:
            try:
                header = config.header_comment(p)
            except (OSError, UnicodeDecodeError) as e:
                header = _("(unreadable: {error})").format(error=e.__class__.__name__)
            title = header.splitlines()[0] if header else _("(no header comment)")
            out.append(PresetFile(p, title, header, source))
    return out


def display_path(path: str | Path) -> str:
    """A path as a user would type it here: relative to the current folder, else ~/..., else absolute."""
    p = Path(path).expanduser()
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        pass
    try:
        return "~/" + str(p.resolve().relative_to(Path.home().resolve()))
    except (ValueError, RuntimeError):
        return str(p)


def preset_arg(path: str | Path) -> str:
    """How `tunewiz run` names a preset: a shipped one by its name, others by path."""
    p = Path(path)
    shipped = p.parent.resolve() == SHIPPED_DIR
    if p.suffix == ".yaml" and (shipped or (p.parent.resolve() == user_preset_dir().resolve()
                                            and not (SHIPPED_DIR / p.name).is_file())):
        return p.stem  # `tunewiz run NAME` finds shipped presets and the user's own (a shipped one of that name first)
    return display_path(p)


# --------------------------------------------------------------------------------------------- diffs
def diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(section.key, old, new) for every key that differs; REMOVED marks a key that is gone (or new)."""
    out = []
    for section in dict.fromkeys([*old, *new]):
        a, b = old.get(section, REMOVED), new.get(section, REMOVED)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in dict.fromkeys([*a, *b]):
                va, vb = a.get(key, REMOVED), b.get(key, REMOVED)
                if va != vb:
                    out.append((f"{section}.{key}", va, vb))
        elif a != b:
            out.append((section, a, b))
    return out


def yaml_value(value: Any) -> str:
    """A value as one line of YAML, which `--set` reads back to the same value."""
    if value is REMOVED:
        return _("(not set)")
    if isinstance(value, str) and "\n" in value:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, allow_unicode=True).strip()
    return text.removesuffix("...").strip()


def run_command(source: str | Path, changes: list[tuple[str, Any, Any]]) -> tuple[list[str], list[str]]:
    """`tunewiz run SOURCE --set k=v ...` for the changes, and the keys --set cannot remove."""
    argv = ["tunewiz", "run", preset_arg(source)]
    removed = []
    for key, _old, new in changes:
        if new is REMOVED:
            removed.append(key)
        else:
            argv += ["--set", f"{key}={yaml_value(new)}"]
    return argv, removed


def shell(argv: list[str]) -> str:
    """The command line as it is typed in a shell (a leading ~/ stays unquoted, so the shell expands it)."""
    return " ".join("~/" + shlex.quote(a[2:]) if a.startswith("~/") else shlex.quote(a) for a in argv)


# -------------------------------------------------------------------------------------------- saving
def describe(cfg: config.Config) -> str:
    """One line: what this preset trains, how, on what."""
    if not cfg.lora_enabled:
        method = "full fine-tuning"
    else:
        targets = cfg.lora.get("target_modules", "all-linear")
        targets = ", ".join(targets) if isinstance(targets, list) else targets
        method = f"LoRA r={cfg.lora.get('r', 16)} on {targets}"
        if cfg.model.quantization != "none":
            method = f"QLoRA ({cfg.model.quantization} base), " + method
    return f"{cfg.model.name_or_path} ({cfg.model.task}), {method}, on {cfg.dataset.path} ({cfg.dataset.format} format)."


def header_for(cfg: config.Config, path: str | Path, hardware: str = "") -> str:
    """The header comment a saved preset carries: what, hardware, command (as torchtune's recipes do)."""
    return "\n".join([
        describe(cfg),
        f"Hardware: {hardware or 'not estimated (see the review step of the wizard)'}",
        f"Command: tunewiz run {display_path(path)}",
        "Saved by the tunewiz wizard.",
    ])


def preset_path(folder: str | Path, name: str) -> Path:
    """folder/name.yaml; raises TunewizError for a name that is not a plain file name."""
    name = name.strip()
    stem = name.removesuffix(".yaml").removesuffix(".yml")
    if not stem:
        raise TunewizError.at("name", _("is empty"), _("type a name, e.g. my-model-lora"))
    if "/" in name or "\\" in name or stem.startswith("."):
        raise TunewizError.at("name", _("{name!r} is not a plain file name").format(name=name),
                              _("use letters, digits, - and _ (the folder goes below)"))
    if not str(folder).strip():
        raise TunewizError.at("folder", _("is empty"), _("e.g. {folder}").format(folder=display_path(user_preset_dir())))
    path = Path(folder).expanduser() / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if shadows_shipped(path.parent, stem):
        raise TunewizError.at("name", _("{name!r} is the name of a shipped preset: `tunewiz run {name}` would run the shipped one")
                              .format(name=stem), _("pick another name, e.g. {name}-mine").format(name=stem))
    return path


def shadows_shipped(folder: str | Path, stem: str) -> bool:
    """A preset named `stem` in `folder` (your presets folder) would be hidden by the shipped preset of that name."""
    return Path(folder).expanduser().resolve() == user_preset_dir().resolve() and (SHIPPED_DIR / f"{stem}.yaml").is_file()


def save_preset(cfg: config.Config, path: Path, header: str = "", overwrite: bool = False) -> Path:
    """Write the preset (whole or not at all); an existing file is replaced only with overwrite=True."""
    if path.exists() and not overwrite:
        raise FileExistsError(str(path))
    if path.exists() and not path.is_file():
        raise TunewizError.at(str(path), _("is a folder"), _("pick another name"))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(config.dump(cfg, header), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TunewizError.at(str(path), _("could not be written ({error})").format(error=e.strerror or e),
                              _("pick a folder you can write to")) from e
    return path
