"""The newcomer help of the most used fields (engine.fieldhelp): every field the training and LoRA steps show has
one, each names a real field, and each is in the Korean catalog."""

from __future__ import annotations

import pytest

from engine import config, fieldhelp, fields, i18n
from tui.screens import lora, training


def shown_by_the_wizard() -> list[tuple[str, str]]:
    """(method, "section.key") of every field the training step (per method) and the LoRA step show."""
    out = [("sft", f"training.{key}") for key, _label in training.COMMON]
    out += [(method, f"training.{key}") for method, keys in training.METHOD_COMMON.items() for key, _label in keys]
    out += [("sft", f"lora.{key}") for key in lora.SHOWN]
    out += [("sft", name) for name in lora.AREA_HELP.values()]  # the method choice, the target picker
    return out


@pytest.mark.parametrize(("method", "name"), shown_by_the_wizard())
def test_every_field_the_training_and_lora_steps_show_has_newcomer_help(method, name):
    assert fieldhelp.source(name, method), f"{name} ({method}) has no newcomer help in engine/fieldhelp.py"


def all_helps() -> list[tuple[str, str]]:
    return [*fieldhelp.HELP.items(), *((f"{name} ({method})", msg) for (method, name), msg in fieldhelp.BY_METHOD.items())]


def test_the_help_covers_the_most_used_fields_of_every_section():
    sections = {name.split(".")[0] for name in fieldhelp.HELP}
    assert sections == {"training", "lora", "dataset", "model"}
    assert len(fieldhelp.HELP) >= 40


@pytest.mark.parametrize(("name", "msg"), all_helps())
def test_each_help_names_a_real_field_and_is_short(name, msg):
    section, key = name.split(" ")[0].split(".", 1)
    if section == "training":
        known = set().union(*(fields.fields(fields.section_of("training", m)) for m in config.METHODS)) | {"precision"}
    elif section == "lora":
        known = set(fields.fields("lora")) | set(config.LORA_OWN_KEYS)
    else:
        known = set(getattr(config, f"{section.capitalize()}Section").model_fields)
    assert key in known, f"{name}: no such field"
    sentences = msg.count(". ") + 1
    assert 2 <= sentences <= 5 and len(msg) < 400, f"{name}: {sentences} sentences, {len(msg)} characters"
    assert "{" not in msg and "}" not in msg  # shown as is: no field to fill, and none the catalog must keep


@pytest.mark.parametrize(("name", "msg"), all_helps())
def test_each_help_exists_in_korean(name, msg, korean):
    ko = i18n._(msg)
    assert ko != msg and any("\uac00" <= c <= "\ud7a3" for c in ko), f"{name}: no Korean entry"
    first = fieldhelp.first_sentence(ko)
    assert first != ko, f"{name}: the Korean help is one sentence (the line beside the field shows the first)"


def test_a_method_of_its_own_changes_the_help_and_the_rest_falls_back():
    assert fieldhelp.source("training.beta", "orpo") != fieldhelp.source("training.beta", "dpo")
    assert fieldhelp.source("training.beta", "kto") == fieldhelp.source("training.beta", "dpo")
    assert fieldhelp.source("training.learning_rate", "kto") == fieldhelp.source("training.learning_rate")
    assert fieldhelp.source("training.no_such_field") is None and fieldhelp.text("training.no_such_field") == ""


@pytest.mark.parametrize(("method", "name"), [(m, n) for m, n in shown_by_the_wizard() if n not in lora.AREA_HELP.values()])
def test_the_korean_line_beside_a_field_fits_80_columns(method, name, korean):
    """The short help beside a field is the first sentence of the newcomer help: at 80 columns that line has 36
    cells (label 20, box 18 + 1, padding, scrollbar), and a Hangul syllable takes two."""
    from rich.cells import cell_len

    line = fieldhelp.first_sentence(fieldhelp.text(name, method))
    assert cell_len(line) <= 36, f"{name}: {line!r} is {cell_len(line)} cells"
