"""Chat templates: which one is used, and rendering a conversation to text plus the character spans
that are trained (every assistant turn, its end-of-turn marker included).

Spans come from rendering prefixes of the conversation with the template itself, so they hold for
any template, with or without `{% generation %}` markers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import TunewizError

FALLBACKS = {
    # ChatML, as used by Qwen and SmolLM, without a default system prompt.
    "chatml": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # Plain markers that any tokenizer can spell; the assistant turn ends with the eos token.
    "plain": (
        "{% for message in messages %}{% if message['role'] == 'assistant' %}"
        "{{ '### Assistant:\n' + message['content'] + eos_token + '\n\n' }}"
        "{% else %}{{ '### ' + message['role'] | capitalize + ':\n' + message['content'] + '\n\n' }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
    ),
}


def resolve_template(tokenizer: Any, setting: str | None) -> tuple[str | None, str]:
    """(template text, where it came from): the preset's choice, else the tokenizer's own, else None."""
    if setting:
        if setting in FALLBACKS:
            return FALLBACKS[setting], f"tunewiz fallback {setting!r} (model.chat_template)"
        if "{%" in setting or "{{" in setting:
            return setting, "model.chat_template (inline Jinja)"
        p = Path(setting).expanduser()
        if p.is_file():
            return p.read_text(encoding="utf-8"), f"model.chat_template ({p})"
        raise TunewizError.at("model.chat_template", f"{setting!r} is not a named template, Jinja text, or a file",
                              f"use one of {', '.join(FALLBACKS)}, a .jinja file path, or null for the tokenizer's own")
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):  # several named templates: the default one
        own = own.get("default") or next(iter(own.values()))
    if own:
        return own, "the tokenizer's own chat template"
    return None, "none"


def require_template(template: str | None, model_ref: str, fmt: str) -> str:
    if template is None:
        raise TunewizError.at("model.chat_template", f"{fmt} data is a conversation, but {model_ref} has no chat template",
                              "set model.chat_template: chatml (or plain, or your own Jinja), or use format text / prompt-completion")
    return template


def _apply(tokenizer: Any, messages: list[dict], tools: list | None, template: str, gen: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                         add_generation_prompt=gen)


def render(tokenizer: Any, messages: list[dict], tools: list | None, template: str) -> tuple[str, list[tuple[int, int]]]:
    """The conversation as the template writes it, and the [start, end) character spans to train."""
    if tools and "tools" not in template:
        # The template cannot show tools: describe them in the system turn so the model still sees them.
        desc = "You can call these functions:\n" + json.dumps(tools, ensure_ascii=False)
        if messages and messages[0].get("role") == "system":
            messages = [{**messages[0], "content": f"{messages[0]['content']}\n\n{desc}"}, *messages[1:]]
        else:
            messages = [{"role": "system", "content": desc}, *messages]
        tools = None
    full = _apply(tokenizer, messages, tools, template, gen=False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        try:
            before = _apply(tokenizer, messages[:i], tools, template, gen=True)
        except Exception:  # some templates refuse a conversation that does not start with a user turn
            before = None
        through = _apply(tokenizer, messages[: i + 1], tools, template, gen=False)
        if before is not None and through.startswith(before) and full.startswith(through) and len(through) > len(before):
            spans.append((len(before), len(through)))
            continue
        # The template rewrites earlier turns (some drop reasoning from history): find the content itself.
        start = full.find(m.get("content", ""), spans[-1][1] if spans else 0)
        if start < 0:
            raise ValueError(f"assistant turn {i} is not in the rendered text; the chat template drops it")
        end = start + len(m.get("content", ""))
        eos = getattr(tokenizer, "eos_token", None)
        if eos and full[end:].lstrip(" \n").startswith(eos):
            end = full.index(eos, end) + len(eos)
        spans.append((start, end))
    return full, spans
