"""Reading a pasted `TrainingArguments(...)`, `SFTConfig(...)` or `LoraConfig(...)` call into preset keys.

The text is parsed with `ast` and values are read with `ast.literal_eval`: nothing pasted is ever
executed. Arguments from older releases are mapped to today's names (or explained when removed),
unknown ones get the nearest valid name, and every value is checked by the same rules as the preset
loader (engine.config.check_library_section).
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field
from typing import Any

from engine import config, fields
from engine.errors import TunewizError, did_you_mean

# Class name -> preset section. Seq2SeqTrainingArguments shares every field we offer.
CALLS = {"TrainingArguments": "training", "Seq2SeqTrainingArguments": "training", "SFTConfig": "training",
         "LoraConfig": "lora"}


@dataclass
class Pasted:
    """One parsed call: its section (`training` or `lora`), the checked values, and what was skipped or changed."""

    kind: str
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    call: str = ""


def parse_calls(text: str, task: str = "causal-lm") -> list[Pasted]:
    """Every known config call in the text, in source order; raises TunewizError on bad syntax or none found."""
    source = textwrap.dedent(text).strip()
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        line = f", line {e.lineno}" if e.lineno else ""
        raise TunewizError.at(f"pasted code{line}", f"not valid Python: {e.msg}",
                              "paste the whole call, from TrainingArguments( to its closing parenthesis") from None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) in CALLS]
    if not calls:
        raise TunewizError.at("pasted code", "found no TrainingArguments(...), SFTConfig(...) or LoraConfig(...) call",
                              "paste the call itself, e.g. TrainingArguments(output_dir='out', learning_rate=2e-5)")
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [_read_call(n, task) for n in calls]


def parse_call(text: str, task: str = "causal-lm") -> Pasted:
    """The first config call in the text (see parse_calls); later calls are named in its notes."""
    found = parse_calls(text, task)
    first = found[0]
    for other in found[1:]:
        first.notes.append(f"a second call, {other.call}(...), was not read here; paste it on its own")
    return first


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):  # transformers.TrainingArguments(...)
        return f.attr
    return ""


def _read_call(node: ast.Call, task: str) -> Pasted:
    name = _call_name(node)
    section = CALLS[name]
    specs = fields.fields(section)
    notes: list[str] = []
    raw: dict[str, Any] = {}
    args = list(node.args)
    if args and section == "training" and "output_dir" not in {k.arg for k in node.keywords}:
        # TrainingArguments("out", ...): output_dir is the first positional field
        node.keywords.insert(0, ast.keyword(arg="output_dir", value=args.pop(0)))
    for a in args:
        notes.append(f"a positional argument ({_short(a)}) was skipped; write it as name=value")
    explicit = {k.arg for k in node.keywords if k.arg}
    for kw in node.keywords:
        if kw.arg is None:
            notes.append(f"**{_short(kw.value)} was skipped: its keys are not in the pasted text")
            continue
        key = kw.arg
        if key in fields.RENAMED and key not in specs:
            new, why = fields.RENAMED[key]
            if new is None or new not in specs:
                notes.append(f"{key} was skipped: {why}")
                continue
            if new in explicit:
                notes.append(f"{key} was skipped: it was renamed to {new} ({why}), which is also given")
                continue
            notes.append(f"{key} was renamed to {new} ({why}); its value was kept as {new}")
            key = new
        if key not in specs:
            if section == "lora" and key == "enabled":
                continue
            hint = did_you_mean(key, specs)
            notes.append(f"{key} was skipped: {name} has no such argument" + (f"; {hint}" if hint else ""))
            continue
        try:
            value = _literal(kw.value, specs.get(key))
        except ValueError:
            notes.append(f"{kw.arg} was skipped: {_short(kw.value)} is computed when the code runs (only plain values are read); "
                         "type its value in the form")
            continue
        if key in raw:
            notes.append(f"{key} was given twice; the last value was kept")
        raw[key] = value
    values, problems = config.check_library_section(section, raw, "pasted", task=task)
    for p in problems:
        key = p.where.removeprefix(f"pasted: {section}.")
        kept = " (kept: fix it in the form)" if key in values else " (skipped)"
        notes.append(f"{section}.{key}: {p.what}{kept}")
    return Pasted(section, values, notes, name)


def _literal(node: ast.expr, spec: dict[str, Any] | None) -> Any:
    """A plain value; enum members (IntervalStrategy.EPOCH, TaskType.CAUSAL_LM) become their string."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and spec and spec.get("kind") == "choice":
        return _enum_value(node.attr, spec)
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("not a literal") from None
    return _plain(value)


def _enum_value(value: Any, spec: dict[str, Any]) -> Any:
    if isinstance(value, str) and value not in spec.get("choices", []):
        for guess in (value.lower(), value.upper()):
            if guess in spec["choices"]:
                return guess
    return value


def _plain(value: Any) -> Any:
    """Tuples and sets become lists, as YAML writes them."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _short(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."
