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
from engine.i18n import N_, _

# Roles each format reads, required ones first; defaults are the usual column names.
ROLES: dict[str, dict[str, bool]] = {
    "alpaca": {"instruction": True, "output": True, "input": False, "system": False, "history": False},
    "messages": {"messages": True, "tools": False, "functions": False, "parallel_tool_calls": False},
    "sharegpt": {"conversations": True, "system": False, "tools": False},
    "prompt-completion": {"prompt": True, "completion": True},
    "text": {"text": True},
    "classification": {"text": True, "label": True, "text_pair": False},
    "tokenized": {"input_ids": True, "labels": False},
    "template": {},
}
# Other names of alpaca's columns in data people have (Dolly: instruction/context/response; QA sets:
# question/answer; query/response), each trained as a chat turn pair like alpaca.
ALPACA_ALIASES = {"instruction": ("instruction", "question", "query", "prompt"), "output": ("output", "response", "answer"),
                  "input": ("input", "context")}
# Message roles as written by other tools, and the role chat templates know.
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant", "chatbot": "assistant",
                "developer": "system", "function": "tool", "ipython": "tool"}
ROLES_KNOWN = {"system", "user", "assistant", "tool"}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
                  "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool"}
# Parts of a message's content list that a text-only model cannot read (OpenAI, HF and LLaMA-Factory names).
MEDIA_PARTS = {"image", "image_url", "input_image", "audio", "input_audio", "video", "video_url", "file", "input_file"}
TEXT_PARTS = {"text", "input_text", "output_text"}
# Columns of a multimodal dataset (LLaMA-Factory's mllm_demo: an `images` column beside `<image>` in the text).
MEDIA_COLUMNS = ("images", "image", "videos", "video", "audios", "audio")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "score")
TEXT_NAMES = ("text", "sentence", "content", "document", "review", "comment", "comments", "question")
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
                "text": "text", "classification": "cls", "tokenized": "tokens", "preference": "pairs", "kto": "labelled"}[self.name]


def detect(column_names: list[str], first_row: dict[str, Any], fmt: str = "auto", columns: dict[str, str] | None = None,
           template: dict[str, str] | None = None, task: str = "causal-lm") -> Format:
    """Pick the format and role columns; user choices win and are checked against the real columns."""
    columns = dict(columns or {})
    cols = set(column_names)
    for role, col in columns.items():
        if col not in cols:
            hint = did_you_mean(col, column_names)
            raise TunewizError.at(f"dataset.columns.{role}", _("column {col!r} is not in the dataset").format(col=col)
                                  + (f"; {hint}" if hint else ""),
                                  _("columns are: {columns}").format(columns=", ".join(column_names)))
    if template:
        return _template_format(template, column_names)
    chosen = fmt != "auto"
    if fmt == "auto":
        fmt, reason = _guess(column_names, first_row, columns, task)
    else:
        reason = _("chosen: dataset.format is {fmt}").format(fmt=fmt)
    roles = ROLES[fmt]
    resolved: dict[str, str] = {}
    for role, required in roles.items():
        col = columns.get(role) or _default_column(fmt, role, column_names)  # type: ignore[assignment]
        if col:
            resolved[role] = col
        elif required:
            if preference_kind(column_names, first_row) and not columns:  # SFT's format set, preference data given
                _refuse_preference(column_names, first_row)
            fix = _("map one with dataset.columns.{role}: <column>; columns are: {columns}").format(
                role=role, columns=", ".join(column_names))
            if chosen and not columns:
                other = _detected_instead(column_names, first_row, task, fmt)  # a preset's format, another file's data
                if other is not None:
                    fix = _("the data looks like {other} ({why}): set dataset.format: auto (or {other}); or {fix}").format(
                        other=other.name, why=other.reason, fix=fix)
            raise TunewizError.at("dataset.columns", _("format {fmt} needs a {role!r} column and the dataset has none")
                                  .format(fmt=fmt, role=role), fix)
    unknown = set(columns) - set(roles)
    if unknown:
        role = sorted(unknown)[0]
        hint = did_you_mean(role, roles)
        raise TunewizError.at(f"dataset.columns.{role}", _("{fmt} data has no role {role!r}").format(fmt=fmt, role=role)
                              + (f"; {hint}" if hint else ""),
                              _("roles of {fmt}: {roles}").format(fmt=fmt, roles=", ".join(roles)))
    _refuse_media(column_names, first_row)
    if task == "sequence-classification" and fmt != "classification":
        raise TunewizError.at("model.task", _("a sequence-classification model needs labelled data, and this looks like "
                                              "{fmt} ({reason})").format(fmt=fmt, reason=reason),
                              _("to train on this data, set model.task: causal-lm with a causal LM (e.g. "
                                "demo:smollm2-135m-instruct); for labelled data, map dataset.columns: {{text: ..., label: ...}} "
                                "with format: classification").format())
    if task == "causal-lm" and fmt == "classification":
        raise TunewizError.at("model.task", _("the data is labelled for classification ({reason}) but the task is causal-lm")
                              .format(reason=reason),
                              _("set model.task: sequence-classification (and a classifier model, e.g. demo:minilm-l6)"))
    return Format(fmt, resolved, reason)


def _detected_instead(column_names: list[str], first_row: dict[str, Any], task: str, chosen: str) -> Format | None:
    """The format auto-detection finds in data that does not fit the chosen one (alpaca columns under a preset's
    `format: messages`), or None."""
    try:
        found = detect(column_names, first_row, "auto", None, None, task)
    except TunewizError:
        return None
    return found if found.name != chosen else None


def _named(names: list[str], wanted: str) -> str | None:
    """The column called `wanted`, matched without regard to case (Excel headers are often Label, Text)."""
    return wanted if wanted in names else next((n for n in names if n.lower() == wanted), None)


def _default_column(fmt: str, role: str, names: list[str]) -> str | None:
    if role in names:
        return role
    if (found := _named(names, role)) is not None:
        return found
    if fmt == "text" and role == "text" and len(names) == 1:
        return names[0]
    if fmt == "classification":
        if role == "label":
            return next((c for n in LABEL_NAMES if (c := _named(names, n))), None)
        for a, b in PAIR_NAMES:
            if _named(names, a) and _named(names, b):
                return _named(names, a) if role == "text" else _named(names, b)
        if role == "text":
            return next((c for n in TEXT_NAMES if (c := _named(names, n))), None)
    if fmt == "messages" and role == "messages" and "conversations" in names:
        return "conversations"
    if fmt == "alpaca" and role in ALPACA_ALIASES:
        return next((n for n in ALPACA_ALIASES[role] if n in names), None)
    return None


def _guess(names: list[str], row: dict[str, Any], columns: dict[str, str], task: str) -> tuple[str, str]:
    has = set(names) | set(columns)
    if "input_ids" in has:
        return "tokenized", _("it has an input_ids column (already tokenized)")
    _refuse_preference(names, row)
    for col in ("messages", "conversations"):
        turns = row.get(columns.get(col, col))
        if isinstance(turns, list) and turns and isinstance(turns[0], dict):
            if {"role", "content"} <= set(turns[0]):
                return "messages", _("column {col!r} holds turns with role/content").format(col=col)
            if {"from", "value"} <= set(turns[0]):
                return "sharegpt", _("column {col!r} holds turns with from/value (ShareGPT)").format(col=col)
    if {"instruction", "output"} <= has:
        return "alpaca", _("it has instruction and output columns (Alpaca)")
    if {"prompt", "completion"} <= has:
        return "prompt-completion", _("it has prompt and completion columns")
    ask = next((n for n in ALPACA_ALIASES["instruction"] if n in has), None)
    answer = next((n for n in ALPACA_ALIASES["output"] if n in has), None)
    if ask and answer and all(isinstance(row.get(columns.get(c, c)), str | None) for c in (ask, answer)):
        return "alpaca", _("it has {ask} and {answer} columns: each row trained as a chat ({ask} = the user turn, "
                           "{answer} = the answer)").format(ask=ask, answer=answer)
    lowered = {n.lower() for n in has}
    label = next((n for n in LABEL_NAMES if n in lowered), None)
    if label and (task == "sequence-classification" or len(names) <= 3):
        value = row.get(columns.get("label") or _named(names, label) or label)
        if isinstance(value, float) and value != int(value):
            return "classification", _("it has a {label!r} column of numbers beside text: regression (a score to predict)"
                                       ).format(label=label)
        return "classification", _("it has a {label!r} column beside text").format(label=label)
    mapped = [r for r in ("text", "label") if r in columns]
    if task == "sequence-classification" and mapped:
        return "classification", (_("the model is a classifier and dataset.columns maps its {role}").format(role=mapped[0])
                                  if len(mapped) == 1 else
                                  _("the model is a classifier and dataset.columns maps its {a} and {b}").format(a=mapped[0], b=mapped[1]))
    if "text" in lowered:
        return "text", _("it has a text column (plain language modelling: every token trained)")
    if len(names) == 1 and names[0].lower() in ALPACA_ALIASES["instruction"]:
        raise TunewizError.at("dataset.format", _("prompt-only data: its only column {column!r} holds prompts with no "
                                                  "responses (a prompt set for RL/PPO), so there is nothing to learn to answer")
                              .format(column=names[0]),
                              _("use data with the answers too (prompt/completion, messages, instruction/output)"))
    strings = [n for n in names if isinstance(row.get(n), str)]
    if len(names) == 1 and strings:
        return "text", _("its only column {column!r} holds text").format(column=names[0])
    if task == "sequence-classification":  # a classifier reads a text and a label, whatever the columns are called
        text = max(strings or names, key=lambda n: len(str(row.get(n) or "")))
        label = next((n for n in names if n != text), "<column>")
        raise TunewizError.at("dataset.columns", _("could not tell which column holds the text and which the label "
                                                   "({columns})").format(columns=", ".join(names)),
                              _("map them, e.g. dataset.columns: {{text: {text}, label: {label}}} with format: classification")
                              .format(text=text, label=label))
    raise TunewizError.at("dataset.format", _("could not tell the format from the columns ({columns})")
                          .format(columns=", ".join(names)),
                          _("set dataset.format and map columns with dataset.columns, or give dataset.template "
                            "{{prompt: '...{{column}}...', completion: '{{column}}'}}").format())


KTO_KIND = N_("KTO labelled answers (a true/false label: desirable or undesirable)")


def preference_kind(names: list[str], row: dict[str, Any]) -> tuple[str, str] | None:
    """(what preference data this is, how to train only its preferred answers as SFT), or None."""
    cols = set(names)
    if {"chosen", "rejected"} <= cols:
        if "conversations" in cols or "messages" in cols:
            ctx = "conversations" if "conversations" in cols else "messages"
            return (_("DPO pairs (chosen/rejected answers to the conversation in {column!r})").format(column=ctx),
                    _("format: prompt-completion with dataset.columns {{prompt: {column}, completion: chosen}}").format(column=ctx))
        if "prompt" in cols:
            return _("DPO pairs (prompt with chosen/rejected answers)"), \
                _("format: prompt-completion with dataset.columns {{prompt: prompt, completion: chosen}}").format()
        return (_("DPO pairs (chosen/rejected, each holding the prompt too)"),
                _("format: text with dataset.columns {{text: chosen}} (trains every token of it, the prompt too)").format())
    if {"chosen_messages", "rejected_messages"} <= cols:
        return (_("DPO pairs (chosen_messages/rejected_messages)"),
                _("format: messages with dataset.columns {{messages: chosen_messages}}").format())
    if {"preferred_output", "non_preferred_output"} <= cols:
        return (_("DPO pairs (OpenAI's preference format: preferred_output / non_preferred_output)"),
                _("format: prompt-completion with dataset.columns {{prompt: input, completion: preferred_output}}").format())
    if {"response_j", "response_k"} <= cols:
        return (_("DPO pairs (response_j preferred over response_k)"),
                _("format: alpaca with dataset.columns {{instruction: question, output: response_j}}").format())
    if "rejected_response" in cols and "messages" in cols:
        return (_("DPO pairs (messages ending with the chosen answer, and a rejected_response)"),
                _("format: messages (the rejected_response column is then not read)"))
    if "instruction" in cols and isinstance(row.get("output"), list) and len(row["output"]) >= 2 \
            and all(isinstance(x, str) for x in row["output"]):
        return (_("ranked answers (output: [preferred, other, ...], LLaMA-Factory's ranking data)"),
                _("keep the first answer of output, then train as alpaca"))
    if "kto_tag" in cols or (isinstance(row.get("label"), bool) or isinstance(row.get("tag"), bool)) \
            and cols & {"completion", "messages", "conversations", "output"}:
        return (_(KTO_KIND),
                _("keep only the rows labelled true (desirable), then train them as SFT data"))
    return None


def _refuse_preference(names: list[str], row: dict[str, Any]) -> None:
    found = preference_kind(names, row)
    if found:
        kind, sft = found
        method = "kto" if kind == _(KTO_KIND) else "dpo (or orpo)"
        raise TunewizError.at("dataset.format", _("preference data: {kind}, not SFT data (trained as chat, the rejected or "
                                                  "undesirable answers would be learned as targets, or the preferred ones "
                                                  "dropped)").format(kind=kind),
                              _("set model.method: {method} to train on the preferences; or, to train only the preferred "
                                "answers as SFT: {sft}").format(method=method, sft=sft))


def _refuse_media(names: list[str], row: dict[str, Any]) -> None:
    for col in MEDIA_COLUMNS:
        if col in names and row.get(col) not in (None, "", []):
            raise TunewizError.at(f"dataset.columns ({col})", _("multimodal data: the {column!r} column holds media files "
                                                                "for the text (<image>-style placeholders), and the model "
                                                                "reads text only").format(column=col),
                                  _("use a vision-language model's own training tools for this data, or text-only data; "
                                    "tunewiz would train the placeholders as text"))


def _template_format(template: dict[str, str], names: list[str]) -> Format:
    import string

    if set(template) - {"prompt", "completion"} or "completion" not in template:
        raise TunewizError.at("dataset.template", _("a template has a prompt and a completion"),
                              _("e.g. {{prompt: '### Question: {{q}}\\n### Answer: ', completion: '{{a}}'}}").format())
    for part, text in template.items():
        try:
            keys = {k for _, k, _, _ in string.Formatter().parse(text) if k}
        except ValueError as e:
            raise TunewizError.at(f"dataset.template.{part}", _("bad template ({error})").format(error=e),
                                  _("write {{column}}; double braces {{{{ }}}} for literal ones").format()) from e
        for k in keys:
            if k not in names:
                hint = did_you_mean(k, names)
                raise TunewizError.at(f"dataset.template.{part}", _("{{{key}}} is not a column").format(key=k)
                                      + (f"; {hint}" if hint else ""),
                                      _("columns are: {columns}").format(columns=", ".join(names)))
    return Format("template", {}, _("dataset.template is set"), template=dict(template))


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
            # the prompt's turns are context, whatever their role: only the completion is trained (as TRL does)
            prompt = [{**message(m, i), "weight": 0} for i, m in enumerate(_as_list(p))]
            return {"messages": prompt + [message(m, len(prompt) + i) for i, m in enumerate(_as_list(comp))], "tools": None}
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
        prompt = _str(row[c["instruction"]])  # type: ignore[assignment]
        extra = _str(row.get(c["input"])) if c.get("input") else ""
        msgs += [{"role": "user", "content": f"{prompt}\n{extra}" if extra else prompt},
                 {"role": "assistant", "content": _str(row[c["output"]])}]
        return {"messages": msgs, "tools": None}
    if f.name == "messages":
        msgs = [message(m, i) for i, m in enumerate(row[c["messages"]])]
        if row.get(c.get("parallel_tool_calls", "")) is False:
            for i, m in enumerate(msgs):
                if len(m.get("tool_calls") or []) > 1:
                    raise ValueError(_("message {i} makes {n} tool calls but parallel_tool_calls is false")
                                     .format(i=i, n=len(m["tool_calls"])))
        tools = _tools(row.get(c["tools"])) if "tools" in c else None
        if tools is None and "functions" in c:  # OpenAI's older function-calling format
            tools = [{"type": "function", "function": fn} for fn in _tools(row.get(c["functions"])) or []] or None
        return {"messages": msgs, "tools": tools}
    if f.name == "sharegpt":
        msgs = [{"role": "system", "content": row[c["system"]]}] if c.get("system") and row.get(c["system"]) else []
        for turn in row[c["conversations"]]:
            msgs.append(_sharegpt_turn(turn, len(msgs)))
        return {"messages": msgs, "tools": _tools(row.get(c["tools"])) if "tools" in c else None}
    raise ValueError(_("unknown format {name}").format(name=f.name))


def _sharegpt_turn(turn: dict[str, Any], i: int) -> dict[str, Any]:
    """A ShareGPT turn as a message; a function_call turn (its value the JSON {"name", "arguments"}) as a tool call,
    so it is written and trained as the template writes tool calls, like OpenAI's."""
    role = SHAREGPT_ROLES.get(str(turn.get("from")))
    if role is None:
        raise ValueError(_("unknown ShareGPT role {role!r} (known: {known})").format(role=turn.get("from"),
                                                                                     known=", ".join(SHAREGPT_ROLES)))
    if turn.get("from") == "function_call":
        try:
            call = json.loads(turn.get("value") or "")
        except (TypeError, json.JSONDecodeError):
            call = None
        if isinstance(call, dict) and "name" in call:
            return {"role": "assistant", "tool_calls": [_tool_call({"type": "function", "function": call})]}
    return {"role": role, "content": _content(turn.get("value"), i)}


def message(m: Any, i: int) -> dict[str, Any]:
    """One chat message in the shape chat templates take: content as text (a list of text parts joined), OpenAI's
    tool calls with their arguments as objects, the older `function_call` / `function` role as tool calls / tool;
    OpenAI's per-message `weight` (0 = not trained) kept for the data path."""
    if not isinstance(m, dict):
        raise ValueError(_("message {i} is a {type}, not an object with role and content").format(i=i, type=type(m).__name__))
    out = {k: v for k, v in m.items() if v is not None}
    if "from" in out and "role" not in out:  # a ShareGPT turn where messages are expected
        turn = _sharegpt_turn(out, i)
        out = {**{k: v for k, v in out.items() if k not in ("from", "value")}, **turn}
    if "loss_weight" in out and "weight" not in out:  # LLaMA-Factory's name for the same thing
        out["weight"] = out.pop("loss_weight")
    if isinstance(out.get("content"), list):
        parts = out["content"]
        reasoning = [p.get("value", p.get("text")) for p in parts if isinstance(p, dict) and p.get("type") in ("reasoning", "thinking")]
        calls = [p.get("value", p.get("text")) for p in parts if isinstance(p, dict) and p.get("type") == "tool_call"]
        out["content"] = [p for p in parts if not (isinstance(p, dict) and p.get("type") in ("reasoning", "thinking", "tool_call"))]
        if reasoning:
            out["reasoning_content"] = "\n".join(map(str, reasoning))
        if calls:
            out["tool_calls"] = [*out.get("tool_calls", []), *(_call_part(c, i) for c in calls)]
    if "content" in out:
        out["content"] = _content(out["content"], i)
    role = out.get("role")
    out["role"] = ROLE_ALIASES.get(str(role).lower(), str(role).lower()) if isinstance(role, str) else role
    if out["role"] not in ROLES_KNOWN:
        raise ValueError(_("message {i} has the role {role!r}; roles are {roles} (also read: {aliases})")
                         .format(i=i, role=role, roles=", ".join(sorted(ROLES_KNOWN)), aliases=", ".join(ROLE_ALIASES)))
    if "function_call" in out and "tool_calls" not in out:
        out["tool_calls"] = [{"type": "function", "function": out.pop("function_call")}]
    if "tool_calls" in out:
        out["tool_calls"] = [_tool_call(tc) for tc in out["tool_calls"]]
    if "weight" in out and out["weight"] not in (0, 1):
        raise ValueError(_("message {i} has weight {weight!r}; a weight is 0 (not trained) or 1").format(i=i, weight=out["weight"]))
    return out


def _call_part(value: Any, i: int) -> dict[str, Any]:
    """A tool_call content part (LLaMA-Factory: its value a JSON {"name", "arguments"}) as an OpenAI tool call."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(_("message {i}: a tool_call part is not JSON ({error})").format(i=i, error=e.msg)) from e
    if not isinstance(value, dict) or "name" not in value:
        raise ValueError(_("message {i}: a tool_call part without a name").format(i=i))
    return {"type": "function", "function": value}


def _tool_call(tc: Any) -> dict[str, Any]:
    """{"type": "function", "function": {"name", "arguments": {...}}}: templates write the arguments as JSON
    themselves, so arguments given as a JSON string (OpenAI's way) are parsed."""
    if not isinstance(tc, dict):
        raise ValueError(_("a tool call is a {type}, not an object").format(type=type(tc).__name__))
    fn = dict(tc.get("function") or {k: v for k, v in tc.items() if k in ("name", "arguments")})
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            fn["arguments"] = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            pass  # kept as the string it is
    return {**{k: v for k, v in tc.items() if k not in ("function", "name", "arguments")}, "type": "function", "function": fn}


def _content(v: Any, i: int) -> str:
    """Message content as text: a string, or the text parts of a list joined (OpenAI/HF `text`, LLaMA-Factory `value`);
    media parts are refused, since a text-only model would never see them."""
    if not isinstance(v, list):
        return _str(v)
    texts = []
    for part in v:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type", "text") if isinstance(part, dict) else None
        if kind in MEDIA_PARTS:
            raise ValueError(_("message {i} has a {kind!r} part: multimodal data, and the model reads text only "
                               "(use text-only data, or a vision-language model's own training tools)").format(i=i, kind=kind))
        if kind in TEXT_PARTS:
            text = part.get("text", part.get("value"))
            if not isinstance(text, str):
                raise ValueError(_("message {i}: a {kind!r} part without text").format(i=i, kind=kind))
            texts.append(text)
            continue
        raise ValueError(_("message {i} has a content part of type {kind!r}, which tunewiz cannot put into text "
                           "(known: {known})").format(i=i, kind=kind, known=", ".join(sorted(TEXT_PARTS))))
    return "".join(texts)


def _str(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _as_list(v: Any) -> list[dict[str, Any]]:
    if isinstance(v, dict):  # one message (LLaMA-Factory's chosen: {"from": "gpt", "value": ...})
        return [v]
    return list(v) if isinstance(v, list) else [{"role": "assistant", "content": _str(v)}]


def _tools(v: Any) -> list[Any] | None:
    if v in (None, "", []):
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise ValueError(_("the tools column is not valid JSON ({error})").format(error=e.msg)) from e
    return v if isinstance(v, list) else [v]
