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
from engine.i18n import _, pgettext

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
            return FALLBACKS[setting], _("tunewiz fallback {name!r} (model.chat_template)").format(name=setting)
        if "{%" in setting or "{{" in setting:
            return setting, _("model.chat_template (inline Jinja)")
        p = Path(setting).expanduser()
        if p.is_file():
            try:
                return p.read_text(encoding="utf-8-sig"), f"model.chat_template ({p})"
            except UnicodeDecodeError:
                from engine.data.tabular import encoding_problem

                raise encoding_problem(p) or TunewizError.at(f"model.chat_template ({p})", _("not UTF-8 text")) from None
        raise TunewizError.at("model.chat_template", _("{setting!r} is not a named template, Jinja text, or a file")
                              .format(setting=setting),
                              _("use one of {names}, a .jinja file path, or null for the tokenizer's own")
                              .format(names=", ".join(FALLBACKS)))
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):  # several named templates: the default one
        own = own.get("default") or next(iter(own.values()))
    if own:
        return own, _("the tokenizer's own chat template")
    return None, pgettext("chat template", "none")


def check_syntax(template: str, setting: str | None, model_ref: str) -> None:
    """A chat template that Jinja cannot compile, named where it was written, with the template's line (else every
    row would fail to render, and the first one would be blamed)."""
    import jinja2
    from transformers.utils.chat_template_utils import _compile_jinja_template

    try:
        _compile_jinja_template(template)
    except jinja2.TemplateSyntaxError as e:
        if setting and setting not in FALLBACKS and "{%" not in setting and "{{" not in setting:
            where = f"model.chat_template ({Path(setting).expanduser()}:{e.lineno})"
        elif setting:
            where = f"model.chat_template (line {e.lineno} of the template)"
        else:
            where = f"model.name_or_path (line {e.lineno} of {model_ref}'s own chat template)"
        fix = (_("fix the Jinja at that line (an unclosed {{% for %}} / {{% if %}} needs its {{% endfor %}} / {{% endif %}}; "
                 "{{{{ ... }}}} and {{% ... %}} must close)") if setting else
               _("fix the Jinja at that line (an unclosed {{% for %}} / {{% if %}} needs its {{% endfor %}} / {{% endif %}}; "
                 "{{{{ ... }}}} and {{% ... %}} must close), or set model.chat_template: chatml (or your own template) to "
                 "use another")).format()
        raise TunewizError.at(where, _("the chat template is not valid Jinja: {error}").format(error=e.message), fix) from None


def require_template(template: str | None, model_ref: str, fmt: str) -> str:
    if template is None:
        raise TunewizError.at("model.chat_template", _("{fmt} data is a conversation, but {model} has no chat template")
                              .format(fmt=fmt, model=model_ref),
                              _("set model.chat_template: chatml (or plain, or your own Jinja), or use format text / "
                                "prompt-completion"))
    return template


def _apply(tokenizer: Any, messages: list[dict], tools: list | None, template: str, gen: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                         add_generation_prompt=gen)


TOOL_CALLS_AS_TEXT = ("the chat template has no tool-call syntax: an assistant turn's tool calls are written into its text "
                      "as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>, and trained as such")


def conversation(messages: list[dict], tools: list | None, template: str) -> tuple[list[dict], list | None, set[str]]:
    """The conversation as it is rendered and trained, and what was found on the way (flags):
    - "reasoning as text": the template has no reasoning_content: the reasoning is put before the answer in <think>;
    - "tool calls as text": the template cannot write tool calls, so they are put into the turn's text;
    - "tools in system": the template cannot show the tools, so they are described in the system turn;
    - "empty answer": an assistant turn with nothing in it (not trained: it would teach an empty reply);
    - "ends without answer": turns after the last assistant turn, left out (nothing in them is trained, and in a
      causal model they change nothing before them);
    - "no answer": no assistant turn to train at all."""
    flags: set[str] = set()
    msgs = [dict(m) for m in messages]
    if any(m.get("reasoning_content") for m in msgs) and "reasoning_content" not in template:
        flags.add("reasoning as text")
        for m in msgs:
            if m.get("reasoning_content"):
                m["content"] = f"<think>\n{m.pop('reasoning_content')}\n</think>\n\n{m.get('content') or ''}"
    if any(m.get("tool_calls") for m in msgs) and "tool_calls" not in template:
        flags.add("tool calls as text")
        for m in msgs:
            if m.get("tool_calls"):
                calls = "\n".join("<tool_call>\n" + json.dumps({"name": tc["function"].get("name"), "arguments":
                                   tc["function"].get("arguments")}, ensure_ascii=False) + "\n</tool_call>" for tc in m.pop("tool_calls"))
                m["content"] = f"{m['content']}\n{calls}" if m.get("content") else calls
    if tools and "tools" not in template:
        # The template cannot show tools: describe them in the system turn so the model still sees them.
        flags.add("tools in system")
        desc = "You can call these functions:\n" + json.dumps(tools, ensure_ascii=False)
        if msgs and msgs[0].get("role") == "system":
            msgs = [{**msgs[0], "content": f"{msgs[0]['content']}\n\n{desc}"}, *msgs[1:]]
        else:
            msgs = [{"role": "system", "content": desc}, *msgs]
        tools = None
    for m in msgs:
        if m.get("role") == "assistant" and not str(m.get("content") or "").strip() and not m.get("tool_calls"):
            flags.add("empty answer")
    last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
    if last is None:
        flags.add("no answer")
    elif last < len(msgs) - 1:
        flags.add("ends without answer")
        msgs = msgs[: last + 1]
    return msgs, tools, flags


def trained(m: dict) -> bool:
    """An assistant turn that is trained: not weighted 0 (OpenAI's way to skip a turn) and not empty."""
    return (m.get("role") == "assistant" and m.get("weight", 1) != 0
            and bool(str(m.get("content") or "").strip() or m.get("tool_calls")))


def render(tokenizer: Any, messages: list[dict], tools: list | None, template: str) -> tuple[str, list[tuple[int, int]]]:
    """The conversation as the template writes it, and the [start, end) character spans to train."""
    messages, tools, _flags = conversation(messages, tools, template)
    keep = [trained(m) for m in messages]
    messages = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    full = _apply(tokenizer, messages, tools, template, gen=False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if not keep[i]:
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
        content = m.get("content") or ""
        start = full.find(content, spans[-1][1] if spans else 0) if content else -1
        if start < 0:
            raise ValueError(_("assistant turn {i} is not in the rendered text; the chat template drops it").format(i=i))
        end = start + len(content)
        eos = getattr(tokenizer, "eos_token", None)
        if eos and full[end:].lstrip(" \n").startswith(eos):
            end = full.index(eos, end) + len(eos)
        spans.append((start, end))
    return full, spans
