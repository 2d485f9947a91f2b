"""Preset files: listing (shipped and the user's), diffs, the equivalent command, and saving safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import config, presets
from engine.errors import TunewizError
from tests.conftest import PRESETS

SMOL = PRESETS / "smollm2-identity-lora.yaml"


def test_user_folder_is_the_env_or_the_config_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEWIZ_PRESETS", str(tmp_path / "mine"))
    assert presets.user_preset_dir() == tmp_path / "mine"
    monkeypatch.delenv("TUNEWIZ_PRESETS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert presets.user_preset_dir() == tmp_path / ".config" / "tunewiz" / "presets"


def test_list_shows_shipped_then_yours_with_their_header(tmp_path):
    (tmp_path / "b.yaml").write_text("# Mine: a test preset\n# Hardware: none\nversion: 1\n")
    (tmp_path / "a.yaml").write_text("version: 1\n")
    (tmp_path / "broken.yaml").write_bytes(b"# \xff\xfe not text\n")
    (tmp_path / "notes.txt").write_text("# not a preset\n")
    found = presets.list_presets(tmp_path)
    shipped = [p for p in found if p.source == "shipped"]
    assert [p.name for p in shipped] == sorted(p.stem for p in PRESETS.glob("*.yaml"))
    assert found[: len(shipped)] == shipped
    smol = next(p for p in shipped if p.name == "smollm2-identity-lora")
    assert smol.title == config.header_comment(SMOL).splitlines()[0] and smol.title.startswith("SmolLM2-135M-Instruct")
    mine = {p.name: p.title for p in found if p.source == "yours"}
    assert mine == {"a": "(no header comment)", "b": "Mine: a test preset", "broken": "(unreadable: UnicodeDecodeError)"}
    assert [p.source for p in presets.list_presets(tmp_path / "missing")] == ["shipped"] * len(shipped)


def test_diff_names_each_changed_key():
    old = config.to_dict(config.load(SMOL))
    cfg = config.load(SMOL)
    cfg.training["learning_rate"] = 1e-4
    cfg.training["max_steps"] = 5
    del cfg.training["seed"]
    cfg.model.chat_template = "chatml"
    changes = presets.diff(old, config.to_dict(cfg))
    assert changes == [("model.chat_template", None, "chatml"), ("training.learning_rate", 5e-4, 1e-4),
                       ("training.seed", 42, presets.REMOVED), ("training.max_steps", presets.REMOVED, 5)]
    assert presets.diff(old, old) == []


def test_run_command_repeats_the_choices():
    old = config.to_dict(config.load(SMOL))
    cfg = config.load(SMOL)
    cfg.training["learning_rate"] = 1e-4
    cfg.lora["target_modules"] = ["q_proj", "v_proj"]
    cfg.dataset.columns = {"messages": "dialog: turns"}
    cfg.model.chat_template = "{% for m in messages %}\n{{ m['content'] }}: {{ '#' }}\n{% endfor %}"
    cfg.dataset.max_rows = 10
    argv, removed = presets.run_command(SMOL, presets.diff(old, config.to_dict(cfg)))
    assert argv[:3] == ["tunewiz", "run", "smollm2-identity-lora"] and removed == []
    assert "training.learning_rate=0.0001" in argv and "lora.target_modules=[q_proj, v_proj]" in argv
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert config.to_dict(config.load(SMOL, sets)) == config.to_dict(cfg)
    assert presets.shell(argv).startswith("tunewiz run smollm2-identity-lora --set ")


def test_run_command_says_what_set_cannot_remove(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = config.to_dict(config.load(SMOL))
    cfg = config.load(SMOL)
    del cfg.training["seed"]
    argv, removed = presets.run_command(tmp_path / "mine" / "x.yaml", presets.diff(old, config.to_dict(cfg)))
    assert argv == ["tunewiz", "run", "mine/x.yaml"] and removed == ["training.seed"]


def test_save_never_overwrites_unasked_and_round_trips(tmp_path):
    cfg = config.load(SMOL)
    cfg.training["learning_rate"] = 3e-4
    path = presets.preset_path(tmp_path / "sub", "my-smol")
    assert path == tmp_path / "sub" / "my-smol.yaml"
    presets.save_preset(cfg, path, presets.header_for(cfg, path, "any CPU"))
    text = path.read_text()
    assert text.startswith("# demo:smollm2-135m-instruct (causal-lm), LoRA r=16 on all-linear")
    assert "# Hardware: any CPU\n" in text
    assert config.to_dict(config.load(path)) == config.to_dict(cfg)
    cfg.training["learning_rate"] = 1e-5
    with pytest.raises(FileExistsError):
        presets.save_preset(cfg, path)
    assert path.read_text() == text
    presets.save_preset(cfg, path, overwrite=True)
    assert config.load(path).training["learning_rate"] == 1e-5
    assert sorted(p.name for p in path.parent.iterdir()) == ["my-smol.yaml"]  # no temporary file left


@pytest.mark.parametrize("name", ["", "  ", "../x", "a/b", ".hidden"])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(TunewizError):
        presets.preset_path(tmp_path, name)


def test_unwritable_folder_is_a_problem_not_a_crash(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TunewizError, match="could not be written"):
        presets.save_preset(config.load(SMOL), blocker / "x.yaml")


def test_display_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert presets.display_path(tmp_path / "a" / "b.yaml") == "a/b.yaml"
    assert presets.display_path(Path.home() / "zz-not-here.yaml") in ("~/zz-not-here.yaml", "zz-not-here.yaml")
    assert presets.preset_arg(SMOL) == "smollm2-identity-lora"


def test_a_shipped_name_is_not_saved_among_yours(monkeypatch, tmp_path):
    """`tunewiz run NAME` looks in the shipped presets first: a preset of yours under a shipped name would never run
    (new-user finding). Saving one is refused; one already there is named by its path in commands."""
    monkeypatch.setenv("TUNEWIZ_PRESETS", str(tmp_path / "mine"))
    with pytest.raises(TunewizError) as e:
        presets.preset_path(tmp_path / "mine", "smollm2-identity-lora")
    assert "shipped preset" in e.value.problems[0].what and "smollm2-identity-lora-mine" in e.value.problems[0].fix
    assert presets.preset_path(tmp_path / "elsewhere", "smollm2-identity-lora").name == "smollm2-identity-lora.yaml"
    (tmp_path / "mine").mkdir()
    old = tmp_path / "mine" / "smollm2-identity-lora.yaml"
    old.write_text((PRESETS / "smollm2-identity-lora.yaml").read_text())
    assert presets.preset_arg(old) != "smollm2-identity-lora"
    assert presets.preset_arg(tmp_path / "mine" / "x.yaml") == "x"
