"""Dataset formats: detection (with a stated reason), column roles, and conversion of a row to one of
four canonical shapes that the tokenizer step understands:

- chat:   {"messages": [{role, content}, ...], "tools": list | None}
- pc:     {"prompt": str, "completion": str}          (plain text, completion trained)
- text:   {"text": str}                               (everything trained)
- cls:    {"text": str, "text_pair": str | None, "label": label}
- tokens: {"input_ids": [...], "labels": [...] | None}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engine.errors import TunewizError, did_you_mean

# Roles each format reads, required ones first; defaults are the usual column names.
ROLES: dict[str, dict[str, bool]] = {
    "alpaca": {"instruction": True, "output": True, "input": False, "system": False, "history": False},
    "messages": {"messages": True, "tools": False},
    "sharegpt": {"conversations": True, "system": False, "tools": False},
    "prompt-completion": {"prompt": True, "completion": True},
    "text": {"text": True},
    "classification": {"text": True, "label": True, "text_pair": False},
    "tokenized": {"input_ids": True, "labels": False},
    "template": {},
}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
                  "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool"}
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target")
TEXT_NAMES = ("text", "sentence", "content", "document", "review", "question")
PAIR_NAMES = (("sentence1", "sentence2"), ("text", "text_pair"), ("question", "passage"), ("premise", "hypothesis"),
              ("text_a", "text_b"), ("question1", "question2"))


@dataclass
class Format:
    """A detected (or chosen) format with the column for each role and why it was chosen."""

    name: str
    columns: dict[str, str]
    reason: str
    template: dict[str, str] = field(default_factory=dict)

    @property
    def shape(self) -> str:
        return {"alpaca": "chat", "messages": "chat", "sharegpt": "chat", "prompt-completion": "pc", "template": "pc",
                "text": "text", "classification": "cls", "tokenized": "tokens"}[self.name]


def detect(column_names: list[str], first_row: dict[str, Any], fmt: str = "auto", columns: dict[str, str] | None = None,
           template: dict[str, str] | None = None, task: str = "causal-lm") -> Format:
    """Pick the format and role columns; user choices win and are checked against the real columns."""
    columns = dict(columns or {})
    cols = set(column_names)
    for role, col in columns.items():
        if col not in cols:
            hint = did_you_mean(col, column_names)
            raise TunewizError.at(f"dataset.columns.{role}", f"column {col!r} is not in the dataset" + (f"; {hint}" if hint else ""),
                                  f"columns are: {', '.join(column_names)}")
    if template:
        return _template_format(template, column_names)
    if fmt == "auto":
        fmt, reason = _guess(column_names, first_row, columns, task)
    else:
        reason = "set in the preset: dataset.format"
    roles = ROLES[fmt]
    resolved: dict[str, str] = {}
    for role, required in roles.items():
        col = columns.get(role) or _default_column(fmt, role, column_names)
        if col:
            resolved[role] = col
        elif required:
            raise TunewizError.at("dataset.columns", f"format {fmt} needs a {role!r} column and the dataset has none",
                                  f"map one with dataset.columns.{role}: <column>; columns are: {', '.join(column_names)}")
    unknown = set(columns) - set(roles)
    if unknown:
        role = sorted(unknown)[0]
        hint = did_you_mean(role, roles)
        raise TunewizError.at(f"dataset.columns.{role}", f"{fmt} data has no role {role!r}" + (f"; {hint}" if hint else ""),
                              f"roles of {fmt}: {', '.join(roles)}")
    if task == "sequence-classification" and fmt != "classification":
        raise TunewizError.at("model.task", f"a sequence-classification model needs labelled data, and this looks like {fmt} ({reason})",
                              "to train on this data, set model.task: causal-lm with a causal LM (e.g. demo:smollm2-135m-instruct); "
                              "for labelled data, map dataset.columns: {text: ..., label: ...} with format: classification")
    if task == "causal-lm" and fmt == "classification":
        raise TunewizError.at("model.task", f"the data is labelled for classification ({reason}) but the task is causal-lm",
                              "set model.task: sequence-classification (and a classifier model, e.g. demo:minilm-l6)")
    return Format(fmt, resolved, reason)


def _default_column(fmt: str, role: str, names: list[str]) -> str | None:
    if role in names:
        return role
    if fmt == "classification":
        if role == "label":
            return next((n for n in LABEL_NAMES if n in names), None)
        for a, b in PAIR_NAMES:
            if a in names and b in names:
                return a if role == "text" else b
        if role == "text":
            return next((n for n in TEXT_NAMES if n in names), None)
    if fmt == "messages" and role == "messages" and "conversations" in names:
        return "conversations"
    return None


def _guess(names: list[str], row: dict[str, Any], columns: dict[str, str], task: str) -> tuple[str, str]:
    has = set(names) | set(columns)
    if "input_ids" in has:
        return "tokenized", "it has an input_ids column (already tokenized)"
    for col in ("messages", "conversations"):
        turns = row.get(columns.get(col, col))
        if isinstance(turns, list) and turns and isinstance(turns[0], dict):
            if {"role", "content"} <= set(turns[0]):
                return "messages", f"column {col!r} holds turns with role/content"
            if {"from", "value"} <= set(turns[0]):
                return "sharegpt", f"column {col!r} holds turns with from/value (ShareGPT)"
    if {"instruction", "output"} <= has:
        return "alpaca", "it has instruction and output columns (Alpaca)"
    if {"prompt", "completion"} <= has:
        return "prompt-completion", "it has prompt and completion columns"
    label = next((n for n in LABEL_NAMES if n in has), None)
    if label and (task == "sequence-classification" or len(names) <= 3):
        return "classification", f"it has a {label!r} column beside text"
    if "text" in has:
        return "text", "it has a text column (plain language modelling: every token trained)"
    strings = [n for n in names if isinstance(row.get(n), str)]
    if len(names) == 1 and strings:
        return "text", f"its only column {names[0]!r} holds text"
    raise TunewizError.at("dataset.format", f"could not tell the format from the columns ({', '.join(names)})",
                          "set dataset.format and map columns with dataset.columns, or give dataset.template "
                          "{prompt: '...{column}...', completion: '{column}'}")


def _template_format(template: dict[str, str], names: list[str]) -> Format:
    import string

    if set(template) - {"prompt", "completion"} or "completion" not in template:
        raise TunewizError.at("dataset.template", "a template has a prompt and a completion", "e.g. {prompt: '### Question: {q}\\n### Answer: ', completion: '{a}'}")
    for part, text in template.items():
        try:
            keys = {k for _, k, _, _ in string.Formatter().parse(text) if k}
        except ValueError as e:
            raise TunewizError.at(f"dataset.template.{part}", f"bad template ({e})", "write {column}; double braces {{ }} for literal ones") from e
        for k in keys:
            if k not in names:
                hint = did_you_mean(k, names)
                raise TunewizError.at(f"dataset.template.{part}", f"{{{k}}} is not a column" + (f"; {hint}" if hint else ""),
                                      f"columns are: {', '.join(names)}")
    return Format("template", {}, "dataset.template is set", template=dict(template))


# ------------------------------------------------------------------------------------------ conversion
def canonical(row: dict[str, Any], f: Format) -> dict[str, Any]:
    """Convert one source row into its canonical shape (see the module docstring)."""
    c = f.columns
    if f.name == "template":
        return {"prompt": f.template.get("prompt", "").format_map(row), "completion": f.template["completion"].format_map(row)}
    if f.name == "text":
        return {"text": _str(row[c["text"]])}
    if f.name == "prompt-completion":
        p, comp = row[c["prompt"]], row[c["completion"]]
        if isinstance(p, list) or isinstance(comp, list):
            return {"messages": _as_list(p) + _as_list(comp), "tools": None, "prompt_turns": len(_as_list(p))}
        return {"prompt": _str(p), "completion": _str(comp)}
    if f.name == "classification":
        return {"text": _str(row[c["text"]]), "text_pair": _str(row[c["text_pair"]]) if "text_pair" in c else None,
                "label": row[c["label"]]}
    if f.name == "tokenized":
        return {"input_ids": list(row[c["input_ids"]]), "labels": list(row[c["labels"]]) if "labels" in c else None}
    if f.name == "alpaca":
        msgs = [{"role": "system", "content": row[c["system"]]}] if c.get("system") and row.get(c["system"]) else []
        for pair in (row.get(c["history"]) if c.get("history") else None) or []:
            msgs += [{"role": "user", "content": _str(pair[0])}, {"role": "assistant", "content": _str(pair[1])}]
        prompt = _str(row[c["instruction"]])
        extra = _str(row.get(c["input"])) if c.get("input") else ""
        msgs += [{"role": "user", "content": f"{prompt}\n{extra}" if extra else prompt},
                 {"role": "assistant", "content": _str(row[c["output"]])}]
        return {"messages": msgs, "tools": None}
    if f.name == "messages":
        msgs = [{k: v for k, v in m.items() if v is not None} for m in row[c["messages"]]]
        return {"messages": msgs, "tools": _tools(row.get(c["tools"])) if "tools" in c else None}
    if f.name == "sharegpt":
        msgs = [{"role": "system", "content": row[c["system"]]}] if c.get("system") and row.get(c["system"]) else []
        for turn in row[c["conversations"]]:
            role = SHAREGPT_ROLES.get(str(turn.get("from")))
            if role is None:
                raise ValueError(f"unknown ShareGPT role {turn.get('from')!r} (known: {', '.join(SHAREGPT_ROLES)})")
            msgs.append({"role": role, "content": _str(turn.get("value"))})
        return {"messages": msgs, "tools": _tools(row.get(c["tools"])) if "tools" in c else None}
    raise ValueError(f"unknown format {f.name}")


def _str(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _as_list(v: Any) -> list[dict[str, Any]]:
    return list(v) if isinstance(v, list) else [{"role": "assistant", "content": _str(v)}]


def _tools(v: Any) -> list[Any] | None:
    if v in (None, "", []):
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise ValueError(f"the tools column is not valid JSON ({e.msg})") from e
    return v if isinstance(v, list) else [v]
