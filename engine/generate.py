"""Try a run's result: load it from the run directory alone and answer with the tuned and the base model.

A LoRA result is one model copy: the base weights with the adapter, and the base answer is the same
weights under peft's `disable_adapter()` (not a second load). A full fine-tune is compared with the base
checkpoint it started from (config.yaml's model.name_or_path). Chat uses the tokenizer saved with the
result (final/ or checkpoint-N carries the chat template trained on) and streams tokens through
transformers' TextIteratorStreamer, generating in a thread. A classifier answers with label
probabilities (tuned, and the untrained head: the adapter disabled). Heavy libraries are imported by
the functions that need them, so the TUI can import this module at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine import config, models, rundir
from engine.errors import TunewizError
from engine.i18n import _

WHICH = ("tuned", "base")
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")


@dataclass
class Settings:
    """Generation settings by their `transformers.GenerationConfig` names."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    # 1.1: a small model's greedy answer does not loop ("tunewiz tunewiz tunewiz ..." from the identity demo at 1.0,
    # "I was created by Tunewiz ..." at 1.1); 1.0 turns it off
    repetition_penalty: float = 1.1

    def generation_config(self, tok: Any) -> Any:
        """A fresh GenerationConfig (temperature and top_p only when sampling: greedy ignores them)."""
        from transformers import GenerationConfig

        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                              "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p)
        stops = [tok.eos_token_id] if tok.eos_token_id is not None else []
        for t in END_OF_TURN:
            tid = tok.convert_tokens_to_ids(t) if t in tok.get_vocab() else None
            if tid is not None and tid not in stops:
                stops.append(tid)
        kw["eos_token_id"] = stops or None
        kw["pad_token_id"] = tok.pad_token_id if tok.pad_token_id is not None else (stops[0] if stops else None)
        return GenerationConfig(**kw)


@dataclass
class Answer:
    """One generated answer and how fast it came."""

    which: str
    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None
    stopped: bool = False

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


@dataclass
class Source:
    """Where a run's result lives: final/, or the newest complete checkpoint of a stopped run."""

    run_dir: Path
    path: Path
    task: str
    lora: bool
    base: str  # model.name_or_path as written in config.yaml (a hub id or demo:...)
    label_names: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.path.name


def _has_weights(folder: Path) -> bool:
    return any(p.suffix in (".safetensors", ".bin") and p.name != "training_args.bin" for p in folder.glob("*"))


def find_result(run_dir: str | Path) -> Source:
    """The result to chat with: final/, else the newest complete checkpoint-N; a located error otherwise."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / rundir.CONFIG
    if not cfg_path.is_file():
        raise TunewizError.at(str(run_dir), _("no config.yaml: not a tunewiz run directory"), _("give a run from `tunewiz runs`"))
    cfg = config.load(cfg_path, source=str(cfg_path))
    final = run_dir / rundir.FINAL
    path = final if final.is_dir() and _has_weights(final) else None
    if path is None:
        path = rundir.last_checkpoint(run_dir)  # complete only: trainer_state.json and whole weight files
    if path is None:
        raise TunewizError.at(str(run_dir), _("no result yet: no final/ and no complete checkpoint"),
                              _("let the run finish or save a checkpoint (stop it with s: it saves one), then try again"))
    return Source(run_dir, path, cfg.model.task, (path / "adapter_config.json").is_file(), cfg.model.name_or_path,
                  _label_names(path))


def _label_names(path: Path) -> list[str]:
    for name in ("label_mapping.json", "config.json"):
        p = path / name
        if p.is_file():
            id2label = json.loads(p.read_text()).get("id2label") or {}
            if id2label:
                return [id2label[k] for k in sorted(id2label, key=int)]
    return []


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_threads() -> int:
    """Threads for decoding on CPU: the cores other work leaves free (at least one). Decoding one token is many
    small ops; OpenMP threads that wait for a core another process holds make it many times slower (measured on
    2 cores busy with a training run: 0.3 tokens/s with 2 threads, 7 with 1)."""
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    free = int(cores - os.getloadavg()[0] + 0.5) if hasattr(os, "getloadavg") else cores
    return max(1, min(torch.get_num_threads(), free))


class Chat:
    """A run's result, loaded once; `answer` / `stream` for chat models, `classify` for classifiers."""

    def __init__(self, source: Source, model: Any, tokenizer: Any, base_model: Any = None, threads: int | None = None):
        self.source, self.model, self.tokenizer = source, model, tokenizer
        self.threads = threads  # CPU decoding threads (None on a GPU)
        self.base_model = base_model  # full fine-tunes only: the checkpoint it started from
        self._lock = threading.Lock()  # one generation at a time: the adapter switch is the model's state

    @property
    def is_classifier(self) -> bool:
        return self.source.task == "sequence-classification"

    @contextlib.contextmanager
    def use(self, which: str) -> Iterator[Any]:
        """The model that answers as `which` (tuned | base); for a LoRA result the one copy, adapter off for base."""
        if which not in WHICH:
            raise ValueError(f"which must be one of {WHICH}")
        with self._lock:
            if which == "tuned":
                yield self.model
            elif self.base_model is not None:
                yield self.base_model
            else:
                with self.model.disable_adapter():
                    yield self.model

    def encode(self, messages: list[dict[str, str]]) -> Any:
        """The conversation through the trained chat template, ending in the assistant's turn."""
        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        return enc.to(self.model.device)

    def answer(self, messages: list[dict[str, str]], which: str = "tuned", settings: Settings | None = None) -> Answer:
        """A whole answer, without streaming."""
        settings = settings or Settings()
        enc = self.encode(messages)
        t0 = time.perf_counter()
        with self.use(which) as model:
            out = model.generate(**enc, generation_config=settings.generation_config(self.tokenizer))
        new = out[0, enc["input_ids"].shape[1]:]
        return Answer(which, self.tokenizer.decode(new, skip_special_tokens=True), int(new.shape[0]), time.perf_counter() - t0)

    def stream(self, messages: list[dict[str, str]], which: str = "tuned", settings: Settings | None = None,
               cancel: threading.Event | None = None) -> Iterator[str | Answer]:
        """Text pieces as they are generated (generate runs in a thread), then the finished Answer.
        Setting `cancel` stops the generation at the next token."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        settings = settings or Settings()
        stop = cancel or threading.Event()

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> bool:
                return stop.is_set()

        enc = self.encode(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, Any] = {}
        ans = Answer(which)
        with self.use(which) as model:
            def run() -> None:
                try:
                    result["out"] = model.generate(**enc, generation_config=settings.generation_config(self.tokenizer),
                                                   streamer=streamer, stopping_criteria=StoppingCriteriaList([Cancelled()]))
                except BaseException as e:  # handed to the reader, after the streamer is ended
                    result["error"] = e
                    streamer.end()

            t0 = time.perf_counter()
            thread = threading.Thread(target=run, name=f"tunewiz-generate-{which}", daemon=True)
            thread.start()
            for piece in streamer:
                if piece:
                    if ans.first_token_s is None:
                        ans.first_token_s = time.perf_counter() - t0
                    ans.text += piece
                    yield piece
            thread.join()
            ans.seconds = time.perf_counter() - t0
        if "error" in result:
            raise result["error"]
        ans.tokens = int(result["out"].shape[1] - enc["input_ids"].shape[1])
        ans.stopped = stop.is_set()
        yield ans

    def classify(self, text: str, which: str = "tuned") -> list[tuple[str, float]]:
        """Label probabilities, highest first (a regression run: its one output value)."""
        import torch

        enc = self.tokenizer(text, return_tensors="pt", truncation=True).to(self.model.device)
        with self.use(which) as model, torch.no_grad():
            logits = model(**enc).logits[0].float()
        names = self.source.label_names or [f"LABEL_{i}" for i in range(logits.shape[0])]
        if logits.shape[0] == 1:
            return [(names[0], float(logits[0]))]
        probs = torch.softmax(logits, dim=-1).tolist()
        return sorted(zip(names, probs, strict=False), key=lambda kv: -kv[1])


def load(run_dir: str | Path, dev: str | None = None) -> Chat:
    """Load a run's result (final/ or the newest complete checkpoint) as one Chat, from the run directory alone."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # loading bars and load reports would draw over a chat screen
    hf_logging.set_verbosity_error()
    src = find_result(run_dir)
    cfg = config.load(src.run_dir / rundir.CONFIG, source=str(src.run_dir / rundir.CONFIG))
    dev = dev or device()
    base_path = models.materialize(models.resolve(cfg.model.name_or_path, cfg.model.revision))
    kw: dict[str, Any] = {"dtype": torch.bfloat16 if dev == "cuda" else torch.float32,
                          "trust_remote_code": cfg.model.trust_remote_code}
    tok_from = src.path if (src.path / "tokenizer_config.json").is_file() else base_path
    tok = AutoTokenizer.from_pretrained(tok_from, trust_remote_code=cfg.model.trust_remote_code)
    if src.task == "sequence-classification":
        names = src.label_names or ["LABEL_0", "LABEL_1"]
        kw.update(num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
        if len(names) == 1:
            kw["problem_type"] = "regression"
        auto: Any = AutoModelForSequenceClassification
        torch.manual_seed(cfg.training.get("seed", 42))  # the untrained head: the same random init each time
    else:
        auto = AutoModelForCausalLM
    base_model = None
    if src.lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(auto.from_pretrained(base_path, **kw), str(src.path))
    else:
        model = auto.from_pretrained(str(src.path), **kw)
        base_model = auto.from_pretrained(base_path, **kw).to(dev).eval()
    model = model.to(dev).eval()
    for m in (model, base_model):
        if m is not None and getattr(m.config, "pad_token_id", None) is None:
            m.config.pad_token_id = tok.pad_token_id
    threads = None
    if dev == "cpu":
        threads = cpu_threads()
        torch.set_num_threads(threads)
    return Chat(src, model, tok, base_model, threads)


def summary(ans: Answer, short: bool = False) -> str:
    """'42 tokens, 18.3 tokens/s, first token 0.21 s' (short, for a pane's title: '42 tok · 18.3 tok/s · first 0.21 s')."""
    if short:
        count, rate, first, sep = _("{n} tok"), _("{rate:.1f} tok/s"), _("first {s:.2f} s"), " · "
    else:
        count, rate, first, sep = _("{n} tokens"), _("{rate:.1f} tokens/s"), _("first token {s:.2f} s"), ", "
    parts = [count.format(n=ans.tokens)]
    if ans.tokens_per_s is not None:
        parts.append(rate.format(rate=ans.tokens_per_s))
    if ans.first_token_s is not None:
        parts.append(first.format(s=ans.first_token_s))
    if ans.stopped:
        parts.append(_("stopped"))
    return sep.join(parts)


def as_dict(ans: Answer) -> dict[str, Any]:
    return {**asdict(ans), "tokens_per_s": ans.tokens_per_s}
