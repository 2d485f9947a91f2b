"""Preference data: pairs (DPO, ORPO) and labelled answers (KTO).

Formats are detected from the columns people have (each with a stated reason) and every row becomes one
canonical row in TRL's own shapes:

- pairs:    {"prompt": P, "chosen": C, "rejected": R, "tools": list | None}
- labelled: {"prompt": P, "completion": C, "label": bool, "tools": list | None}

P, C and R are all message lists (conversational: the chat template writes them) or all strings (TRL's
"standard" format: plain text, no template). Then TRL's own preparation tokenizes them (the trainers'
`_prepare_dataset`, or ORPO's `tokenize_row`), so the preview, the checks and the trainer see the ids
the library makes; the trainers receive those rows and skip their own preparation.
"""

from __future__ import annotations

import os
from types import MethodType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from engine.data import formats
from engine.errors import TunewizError, did_you_mean
from engine.i18n import N_, _

if TYPE_CHECKING:
    from datasets import Dataset

PAIRED = ("dpo", "orpo")
NAMES = {"dpo": "DPO", "kto": "KTO", "orpo": "ORPO"}
# Roles each preference format reads (required ones first)
ROLES: dict[str, dict[str, bool]] = {
    "preference": {"chosen": True, "rejected": True, "prompt": False, "input": False, "system": False, "history": False,
                   "tools": False},
    "kto": {"completion": True, "label": True, "prompt": False, "input": False, "system": False, "tools": False},
}
# Column names of each role in the data people have, in the order they are looked for: TRL's names; LLaMA-Factory
# v1's chosen_messages; OpenAI's preference fine-tuning (input.messages, preferred_output, non_preferred_output);
# Stack Exchange paired (question, response_j preferred over response_k); ms-swift (messages + rejected_response:
# the last turn of messages is the chosen answer); LLaMA-Factory's ranking data (output: [preferred, other, ...])
CHOSEN_NAMES = ("chosen", "chosen_messages", "preferred_output", "response_j", "chosen_response")
REJECTED_NAMES = ("rejected", "rejected_messages", "non_preferred_output", "response_k", "rejected_response")
# the prompt of a pair: TRL's prompt, a ShareGPT or messages conversation (LLaMA-Factory's dpo_en_demo), Orca-DPO's
# question, an alpaca instruction, OpenAI's input ({"messages": [...]})
PROMPT_NAMES = ("prompt", "conversations", "messages", "question", "instruction", "query")
KTO_LABELS = ("label", "kto_tag", "tag", "desirable")
KTO_ANSWERS = ("completion", "messages", "conversations", "response", "output")
# Anthropic HH-RLHF transcripts: "\n\nHuman: ...\n\nAssistant: ..."
HH_TURNS = {"Human": "user", "Assistant": "assistant"}

# Why a preference row is left out, and the fix (shown with the source rows, as engine/data/pipeline.DROPS; messages:
# shown as _(what), _(fix))
DROPS = {
    "same answer": (N_("had the same chosen and rejected answer (nothing to prefer: the loss stays at log 2)"),
                    N_("fix or remove those rows")),
    "no answer": (N_("had an empty answer (chosen, rejected or completion)"), N_("fill in or remove those rows")),
    "truncated": (N_("had a prompt of training.max_length tokens or more: the answers would be cut away (TRL drops them)"),
                  N_("raise training.max_length, or shorten those prompts")),
    "same within max_length": (N_("had chosen and rejected answers that differ only after training.max_length tokens "
                                  "(the model would see two identical sequences)"),
                               N_("raise training.max_length, or use training.truncation_mode: keep_end")),
}


def detect(names: list[str], row: dict[str, Any], method: str, fmt: str = "auto",
           columns: dict[str, str] | None = None) -> formats.Format:
    """The preference format and the column of each role; user choices win and are checked."""
    columns = dict(columns or {})
    for role, col in columns.items():
        if col not in names:
            hint = did_you_mean(col, names)
            raise TunewizError.at(f"dataset.columns.{role}", _("column {col!r} is not in the dataset").format(col=col)
                                  + (f"; {hint}" if hint else ""),
                                  _("columns are: {columns}").format(columns=", ".join(names)))
    want = "preference" if method in PAIRED else "kto"
    cols = set(names) | set(columns)
    if fmt not in ("auto", "preference", "kto"):
        raise TunewizError.at("dataset.format", (_("{fmt} is SFT data, and model.method is {method} ({name} trains on "
                                                   "chosen/rejected pairs)") if method in PAIRED else
                                                 _("{fmt} is SFT data, and model.method is {method} ({name} trains on "
                                                   "answers labelled desirable or not)")).format(fmt=fmt, method=method,
                                                                                                 name=NAMES[method]),
                              _("set dataset.format: auto (or {format}), or model.method: sft to train this data as SFT")
                              .format(format=want))
    guess = "preference" if is_pairs(names, row) else \
        "kto" if any(n in cols for n in KTO_LABELS) and any(n in cols for n in KTO_ANSWERS) else ""
    if fmt == "auto" or (not guess and not columns):  # a preset's format: preference on SFT data says what it is
        fmt = guess
        if not fmt:
            raise TunewizError.at("dataset.format", _("{name} needs preference data, and these columns ({columns}) hold "
                                                      "none: no chosen/rejected pair, no labelled answer")
                                  .format(name=NAMES[method], columns=", ".join(names)),
                                  _("pairs: prompt / chosen / rejected columns (strings or message lists); KTO: prompt / "
                                    "completion / label (true = desirable); map others with dataset.columns; or, to train "
                                    "this data as SFT, model.method: sft"))
    if fmt == "kto" and method in PAIRED:
        raise TunewizError.at("model.method", _("the data holds single answers labelled desirable or not (KTO), and "
                                                "{name} needs a chosen and a rejected answer to the same prompt")
                              .format(name=NAMES[method]),
                              _("set model.method: kto"))
    roles = ROLES[fmt]
    resolved: dict[str, str] = {}
    for role, required in roles.items():
        found = columns.get(role) or _default(fmt, role, names, row)
        if found:
            resolved[role] = found
        elif required:
            raise TunewizError.at("dataset.columns", _("{fmt} data needs a {role!r} column and the dataset has none")
                                  .format(fmt=fmt, role=role),
                                  _("map one with dataset.columns.{role}: <column>; columns are: {columns}")
                                  .format(role=role, columns=", ".join(names)))
    unknown = set(columns) - set(roles)
    if unknown:
        role = sorted(unknown)[0]
        raise TunewizError.at(f"dataset.columns.{role}", _("{fmt} data has no role {role!r}").format(fmt=fmt, role=role),
                              _("roles of {fmt}: {roles}").format(fmt=fmt, roles=", ".join(roles)))
    formats._refuse_media(names, row)
    return formats.Format(fmt, resolved, _reason(fmt, resolved, row, method, columns))


def is_pairs(names: list[str], row: dict[str, Any]) -> bool:
    """Chosen/rejected answers under any of their names, or LLaMA-Factory's ranked answers (output: [a, b, ...])."""
    cols = set(names)
    if any(n in cols for n in CHOSEN_NAMES) and any(n in cols for n in REJECTED_NAMES):
        return True
    if "rejected_response" in cols and "messages" in cols:
        return True
    return _ranked(row.get("output")) and "instruction" in cols


def _ranked(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 2 and all(isinstance(x, str) for x in v)


def _default(fmt: str, role: str, names: list[str], row: dict[str, Any]) -> str | None:
    if fmt == "preference":
        if role == "chosen":
            found = next((n for n in CHOSEN_NAMES if n in names), None)
            if found is None and "rejected_response" in names and "messages" in names:
                return "messages"  # ms-swift: the last turn of the conversation is the chosen answer
            return found or ("output" if _ranked(row.get("output")) else None)
        if role == "rejected":
            return next((n for n in REJECTED_NAMES if n in names), None) or ("output" if _ranked(row.get("output")) else None)
        if role == "prompt":
            found = next((n for n in PROMPT_NAMES if n in names and n not in CHOSEN_NAMES), None)
            if found is None and isinstance(row.get("input"), dict) and "messages" in row["input"]:
                return "input"  # OpenAI's preference format: {"input": {"messages": [...]}, ...}
            return found
        if role == "input":
            return "input" if "input" in names and not isinstance(row.get("input"), dict) else None
        return role if role in names else None
    if role == "label":
        return next((n for n in KTO_LABELS if n in names), None)
    if role == "completion":
        return next((n for n in KTO_ANSWERS if n in names), None)
    if role == "prompt":
        return next((n for n in ("prompt", "instruction", "question") if n in names), None)
    if role == "input":
        return "input" if "instruction" in names and "input" in names else None
    return role if role in names else None


def _reason(fmt: str, c: dict[str, str], row: dict[str, Any], method: str, chosen_cols: dict[str, str]) -> str:
    how = _("the roles you mapped (dataset.columns)") if chosen_cols else _("its columns")
    if fmt == "kto":
        if "prompt" in c:
            return _("{how}: {completion} labelled by {label} (true = desirable): KTO answers, after the prompt in "
                     "{prompt}").format(how=how, completion=c["completion"], label=c["label"], prompt=c["prompt"])
        return _("{how}: {completion} labelled by {label} (true = desirable): KTO answers, the last turn the answer"
                 ).format(how=how, completion=c["completion"], label=c["label"])
    if "prompt" in c:
        return _("{how}: {chosen} / {rejected} answer pairs, the prompt in {prompt!r}").format(
            how=how, chosen=c["chosen"], rejected=c["rejected"], prompt=c["prompt"])
    return _("{how}: {chosen} / {rejected} answer pairs, the prompt is what chosen and rejected share").format(
        how=how, chosen=c["chosen"], rejected=c["rejected"])


# ------------------------------------------------------------------------------------------ conversion
def canonical(row: dict[str, Any], f: formats.Format) -> dict[str, Any]:
    """One source row as TRL's preference shape (see the module docstring). Raises ValueError on a broken row."""
    c = f.columns
    tools = formats._tools(row.get(c["tools"])) if "tools" in c else None
    system = formats._str(row.get(c["system"])) if c.get("system") else ""
    if f.name == "kto":
        answer = row.get(c["completion"])
        prompt_v = row.get(c["prompt"]) if "prompt" in c else None
        if prompt_v is not None and c.get("input") and row.get(c["input"]):
            prompt_v = f"{formats._str(prompt_v)}\n{formats._str(row[c['input']])}"
        if "prompt" not in c:  # a whole conversation: the last turn is the answer
            turns = _messages(answer, "assistant")
            if len(turns) < 2:
                raise ValueError(_("{column} holds {n} turn(s): no prompt before the answer").format(column=c["completion"],
                                                                                                     n=len(turns)))
            prompt_v, answer = turns[:-1], turns[-1:]
        prompt, (done,) = _pair_up(prompt_v, [answer], system, chat=c.get("prompt") in ("instruction", "question"))
        return {"prompt": prompt, "completion": done, "label": _label(row.get(c["label"]), c["label"]), "tools": tools}
    chosen, rejected = row.get(c["chosen"]), row.get(c["rejected"])
    prompt_v = row.get(c["prompt"]) if "prompt" in c else None
    if isinstance(prompt_v, dict) and "messages" in prompt_v:  # OpenAI: {"input": {"messages": [...], "tools": ...}}
        tools = tools or formats._tools(prompt_v.get("tools"))
        prompt_v = prompt_v["messages"]
    if c["chosen"] == c["rejected"]:  # LLaMA-Factory's ranking: output [preferred, other, ...]
        if not _ranked(chosen):
            raise ValueError(_("{column} is not a list of two or more answers (the first preferred)").format(column=c["chosen"]))
        assert isinstance(chosen, list)
        chosen, rejected = chosen[0], chosen[1]
    elif c["chosen"] == c.get("prompt"):  # ms-swift: messages end with the chosen answer
        turns = _messages(chosen, "assistant")
        if len(turns) < 2 or turns[-1]["role"] != "assistant":
            raise ValueError(_("{column} does not end with an assistant turn (the chosen answer)").format(column=c["chosen"]))
        prompt_v, chosen = turns[:-1], turns[-1:]
    if prompt_v is not None and c.get("input") and row.get(c["input"]):
        prompt_v = f"{formats._str(prompt_v)}\n{formats._str(row[c['input']])}"
    history = row.get(c["history"]) if c.get("history") else None
    if history:  # alpaca's earlier turns: [[question, answer], ...]
        earlier = [{"role": r, "content": formats._str(t)} for pair in history for r, t in zip(("user", "assistant"), pair, strict=False)]
        prompt_v = earlier + _messages(prompt_v, "user")
    if prompt_v is None or prompt_v == [] or prompt_v == "":
        if isinstance(chosen, str) and isinstance(rejected, str) and _is_hh(chosen) and _is_hh(rejected):
            chosen, rejected = _hh(chosen), _hh(rejected)
        prompt, chosen, rejected = _implicit(chosen, rejected)
        prompt_v = prompt
    prompt, (ch, rj) = _pair_up(prompt_v, [chosen, rejected], system,
                                chat=c.get("prompt") in ("conversations", "messages", "question", "instruction", "query", "input"))
    return {"prompt": prompt, "chosen": ch, "rejected": rj, "tools": tools}


def _pair_up(prompt: Any, answers: list[Any], system: str, chat: bool = False) -> tuple[Any, list[Any]]:
    """Prompt and answers in one shape: all message lists when any part is a conversation (or the prompt column is
    an instruction / question, trained as a chat like SFT's alpaca), else all strings."""
    parts = [prompt, *answers]
    conversational = chat or bool(system) or any(isinstance(p, list | dict) for p in parts)
    if not conversational:
        return formats._str(prompt), [formats._str(a) for a in answers]
    msgs = ([{"role": "system", "content": system}] if system else []) + _messages(prompt, "user")
    return msgs, [_messages(a, "assistant") for a in answers]


def _messages(v: Any, role: str) -> list[dict[str, Any]]:
    """A message list from a list of messages (role/content or ShareGPT from/value), one message, or a string (a turn
    of `role`); per-message training weights are dropped (the preference losses see whole answers)."""
    if v is None:
        return []
    if isinstance(v, str):
        return [{"role": role, "content": v}] if v or role == "assistant" else []
    items = [v] if isinstance(v, dict) else list(v)
    out = []
    for i, m in enumerate(items):
        msg = formats.message(m, i)
        msg.pop("weight", None)
        out.append(msg)
    return out


def _label(v: Any, col: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise ValueError(_("{column} is {value!r}; a KTO label is true (desirable) or false (undesirable)").format(column=col, value=v))


def _is_hh(text: str) -> bool:
    return text.lstrip("\n").startswith("Human:") and "\n\nAssistant:" in text


def _hh(text: str) -> list[dict[str, str]]:
    """An Anthropic HH-RLHF transcript as messages (as TRL's own hh-rlhf script converts it)."""
    import re

    parts = re.split(r"\n\n(Human|Assistant): ?", "\n\n" + text.lstrip("\n"))
    msgs = []
    for who, said in zip(parts[1::2], parts[2::2], strict=True):
        msgs.append({"role": HH_TURNS[who], "content": said.strip()})
    return msgs


def _implicit(chosen: Any, rejected: Any) -> tuple[Any, Any, Any]:
    """(prompt, chosen, rejected) when the prompt is written into both answers: the turns they share (message lists),
    or the text they share, cut back to the last line or space (strings; TRL cuts at the first differing character,
    which can split a word)."""
    if isinstance(chosen, list) and isinstance(rejected, list):
        chosen = _messages(chosen, "assistant")
        rejected = _messages(rejected, "assistant")
        n = 0
        while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
            n += 1
        while n > 0 and chosen[n - 1].get("role") == "assistant":  # the answers start after the last prompt turn
            n -= 1
        if n == 0:
            raise ValueError(_("chosen and rejected share no prompt turn (the first turns differ) and no prompt column is mapped"))
        return chosen[:n], chosen[n:], rejected[n:]
    if isinstance(chosen, str) and isinstance(rejected, str):
        n = 0
        while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
            n += 1
        if n < min(len(chosen), len(rejected)) or len(chosen) != len(rejected):
            cut = max(chosen.rfind("\n", 0, n), chosen.rfind(" ", 0, n))
            n = cut + 1 if cut >= 0 else 0
        if n == 0:
            raise ValueError(_("chosen and rejected share no prompt text and no prompt column is mapped"))
        return chosen[:n], chosen[n:], rejected[n:]
    raise ValueError(_("chosen is a {chosen} and rejected a {rejected}: both text, or both message lists")
                     .format(chosen=type(chosen).__name__, rejected=type(rejected).__name__))


def empty_answer(answer: Any) -> bool:
    if isinstance(answer, str):
        return not answer.strip()
    return not any(formats._str(m.get("content")).strip() or m.get("tool_calls") for m in answer or [])


# ------------------------------------------------------------------------------------------ TRL's preparation
def trainer_class(method: str) -> Any:
    """The installed trl trainer of a method (ORPO's lives in trl.experimental in TRL 1.x)."""
    if method == "orpo":
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.orpo import ORPOTrainer

        return ORPOTrainer
    import trl

    return getattr(trl, NAMES[method] + "Trainer")


def tokenize(method: str, ds: Dataset, tokenizer: Any, args: Any, name: str = "train") -> Dataset:
    """TRL's own preparation of canonical rows (`_row` kept): DPOTrainer / KTOTrainer._prepare_dataset, or ORPO's
    prompt extraction, chat template and tokenize_row, run on the objects they read from the trainer."""
    cls = trainer_class(method)
    keep = ds
    if "tools" in ds.column_names and all(t is None for t in ds["tools"]):
        keep = ds.remove_columns("tools")
    if method == "orpo":
        from trl.data_utils import maybe_apply_chat_template

        shim = SimpleNamespace(processing_class=tokenizer, is_encoder_decoder=False, max_length=args.max_length or 512,
                               max_completion_length=args.max_completion_length,
                               padding_value=args.padding_value if args.padding_value is not None else tokenizer.pad_token_id)
        shim.build_tokenized_answer = MethodType(cls.build_tokenized_answer, shim)
        out = keep.map(maybe_apply_chat_template, fn_kwargs={"processing_class": tokenizer}, desc="Applying the chat template")
        return out.map(MethodType(cls.tokenize_row, shim), desc="Tokenizing (trl ORPOTrainer.tokenize_row)")
    shim = SimpleNamespace(_tokenizer=tokenizer)
    if method == "kto":
        shim.calculate_KL = args.loss_type not in ["apo_zero_unpaired"]
        shim.desirable_weight, shim.undesirable_weight = args.desirable_weight, args.undesirable_weight
    return cls._prepare_dataset(shim, keep, tokenizer, args, name)


def collator(method: str, args: Any, tokenizer: Any) -> Any:
    """The collator the trainer builds for itself, built here once and handed to it (the preview collates with it)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if method == "dpo":
        from trl.trainer.dpo_trainer import DataCollatorForPreference

        return DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id, max_length=args.max_length,
                                         truncation_mode=args.truncation_mode, pad_to_multiple_of=args.pad_to_multiple_of)
    if method == "kto":
        from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference

        return DataCollatorForUnpairedPreference(pad_token_id=tokenizer.pad_token_id, max_length=args.max_length,
                                                 pad_to_multiple_of=args.pad_to_multiple_of)
    from trl.experimental.utils import DPODataCollatorWithPadding

    return DPODataCollatorWithPadding(pad_token_id=tokenizer.pad_token_id, is_encoder_decoder=False)


def prepared_trainer(method: str) -> type:
    """The method's trl trainer, taking rows this module prepared as they are (its own preparation is the code that
    made them: run again it would only repeat the work)."""
    base = trainer_class(method)
    if method == "orpo":
        class Prepared(base):  # type: ignore[valid-type, misc]
            def tokenize_row(self, feature: Any, model: Any = None) -> Any:
                return feature if "chosen_input_ids" in feature else super().tokenize_row(feature, model)
    else:
        class Prepared(base):  # type: ignore[valid-type, misc, no-redef]
            def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
                if "prompt_ids" in dataset.column_names:
                    return dataset
                return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
    Prepared.__name__ = Prepared.__qualname__ = base.__name__
    return Prepared


def adapters_in_model_dtype(model: Any) -> None:
    """The trained adapter weights in the base model's 16-bit dtype (what get_peft_model(autocast_adapter_dtype=False)
    gives; the trainer wrapped the model with peft's fp32 adapters)."""
    import torch

    dtype = next((p.dtype for n, p in model.named_parameters() if not p.requires_grad and p.is_floating_point()), None)
    if dtype not in (torch.bfloat16, torch.float16):
        return
    for _name, p in model.named_parameters():
        if p.requires_grad and p.dtype == torch.float32:
            p.data = p.data.to(dtype)


TOKEN_COLUMNS = {"dpo": ("prompt_ids", "chosen_ids", "rejected_ids"),
                 "kto": ("prompt_ids", "completion_ids", "KL_completion_ids", "label"),
                 "orpo": ("prompt_input_ids", "prompt_attention_mask", "chosen_input_ids", "chosen_attention_mask",
                          "chosen_labels", "rejected_input_ids", "rejected_attention_mask", "rejected_labels")}


def method_of(columns: list[str]) -> str:
    """Which method's rows these are, from TRL's column names."""
    return "dpo" if "chosen_ids" in columns else "kto" if "completion_ids" in columns else "orpo"


def model_inputs(method: str, ds: Dataset) -> Dataset:
    """The columns the trainer's collator reads."""
    return ds.select_columns([c for c in TOKEN_COLUMNS[method] if c in ds.column_names])


def lengths(method: str, ds: Dataset) -> Any:
    """Tokens of each row's longest sequence (prompt + the longer answer): what a padded batch is sized by."""
    import numpy as np

    def n(col: str) -> Any:
        import pyarrow.compute as pc

        arr = ds.select_columns([col]).with_format("arrow")[:][col]
        return np.asarray(pc.list_value_length(arr).to_numpy(zero_copy_only=False), dtype=np.int64)

    if method == "dpo":
        return n("prompt_ids") + np.maximum(n("chosen_ids"), n("rejected_ids"))
    if method == "kto":
        return n("prompt_ids") + n("completion_ids")
    return np.maximum(n("chosen_input_ids"), n("rejected_input_ids"))


def drop_reason(method: str, row: dict[str, Any], max_length: int | None, truncation_mode: str = "keep_start") -> str:
    """Why a tokenized row trains nothing (a key of DROPS), or ""."""
    if method == "orpo":
        c, r = row["chosen_input_ids"], row["rejected_input_ids"]
        if row["chosen_labels"] == row["rejected_labels"] and c == r:
            return "same answer"
        return ""
    if method == "kto":
        return "no answer" if not row["completion_ids"] else ""
    p, c, r = row["prompt_ids"], row["chosen_ids"], row["rejected_ids"]
    if c == r:
        return "same answer"
    if max_length is not None:
        sl = slice(None, max_length) if truncation_mode == "keep_start" else slice(-max_length, None)
        if (p + c)[sl] == (p + r)[sl]:
            return "same within max_length"
    return ""


def reference_note(method: str, lora: bool) -> str:
    """How the run gets its reference model (for the review and the start event)."""
    if method == "orpo":
        return _("ORPO needs no reference model (one model in memory)")
    if lora:
        return _("reference = the base with the adapter switched off (no second copy in memory)")
    return _("reference = a second frozen copy of the model (full fine-tuning): twice the weights in memory")
