"""Measuring a run on the rows it held out: `tunewiz eval RUN`.

The training process records its eval split in RUN/eval_split.json when it starts (`record_split`): the
source row numbers of the held-out rows and the identity of the dataset (path, rows, sha256 of its files).
`run_eval` reads the run directory alone (config.yaml, final/ or the newest complete checkpoint, the
recorded split), evaluates exactly those rows with the tuned model and with the base model (for LoRA the
same weights with the adapter disabled: one copy) and writes RUN/eval.json (numbers, side by side) and
RUN/eval.jsonl (each row's place in the data file, prompt, reference, base and tuned answer).

Metrics come from the maintained libraries: rouge-score (ROUGE-L), sacrebleu (chrF, character-level, so
Korean and Chinese are measured fairly), scikit-learn (accuracy, macro F1, confusion matrix, MSE) and
scipy (Pearson, Spearman). Heavy libraries are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import string
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import rundir
from engine.errors import TunewizError
from engine.i18n import N_, _

if TYPE_CHECKING:
    from engine.build import Hardware
    from engine.config import Config
    from engine.data.pipeline import Prepared

SPLIT = "eval_split.json"
RESULT = "eval.json"
ROWS = "eval.jsonl"
HASH_LIMIT = 2 * 1024**3  # dataset files larger than this together are identified by size and mtime, not hashed
DEFAULT_NEW_TOKENS = 128


# ----------------------------------------------------------------------------------------------------------
# Recording the split (the training process, rank 0, when it starts)

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_files(cfg: Config) -> list[Path] | None:
    """The local files the dataset is read from (None for a hub dataset)."""
    from engine.data import load

    p = load.local_path(cfg.dataset.path)
    if p is None:
        return None
    if p.is_file():
        return [p.resolve()]
    if load.is_saved(p):
        return sorted(f.resolve() for f in p.rglob("*") if f.is_file())
    return [Path(f).resolve() for f in load.data_files(p, cfg.dataset.split)[1]]


def dataset_identity(cfg: Config) -> dict[str, Any]:
    """Where the data comes from and a content hash of its files (when they total at most HASH_LIMIT bytes)."""
    d = cfg.dataset
    ident: dict[str, Any] = {"path": d.path, "name": d.name, "split": d.split, "max_rows": d.max_rows}
    files = dataset_files(cfg)
    if files is None:
        ident["files"] = None  # a hub dataset: identified by its rows (count and the held-out rows' tokens)
        return ident
    total = sum(f.stat().st_size for f in files)
    hashed = total <= HASH_LIMIT
    ident["files"] = [{"path": str(f), "bytes": f.stat().st_size,
                       **({"sha256": _sha256(f)} if hashed else {"mtime": int(f.stat().st_mtime)})} for f in files]
    return ident


def _tokens_hash(ds: Any) -> str:
    """A digest of the held-out rows' token ids (a preference row's: each of its id columns)."""
    h = hashlib.sha256()
    cols = ["input_ids"] if "input_ids" in ds.column_names else \
        [c for c in ds.column_names if c.endswith("_ids") and not c.startswith("KL_")]
    for row in ds.select_columns(cols):
        for c in cols:
            h.update(json.dumps(list(row[c])).encode())
    return h.hexdigest()


def held_out_rows(n: int, eval_size: float | int, seed: int) -> list[int]:
    """The source rows `pipeline.prepare` holds out of n (the same train_test_split call on the row numbers)."""
    from datasets import Dataset

    n_eval = int(eval_size) if eval_size >= 1 else max(1, round(eval_size * n))
    return list(Dataset.from_dict({"_row": list(range(n))}).train_test_split(test_size=n_eval, seed=seed)["test"]["_row"])


def record_split(run_dir: Path, cfg: Config, prepared: Prepared) -> dict[str, Any]:
    """Write RUN/eval_split.json: the held-out source rows (those the eval uses) and the dataset's identity."""
    seed = int(cfg.training.get("seed", 42))
    out: dict[str, Any] = {"v": 1, "eval_size": cfg.dataset.eval_size, "seed": seed, "source_rows": prepared.source_rows,
                           "dataset": {}, "rows": [], "tokens_sha256": None}
    try:
        out["dataset"] = dataset_identity(cfg)
    except (OSError, TunewizError) as e:  # never a reason to stop a training run: eval then checks rows and tokens only
        out["dataset"] = {"path": cfg.dataset.path, "files": None, "unreadable": str(e)}
    ev = prepared.eval
    if ev is not None and cfg.dataset.eval_size:
        if "_row" in ev.column_names:  # the rows as tokenized (rows with nothing to train already left out)
            out["rows"] = list(dict.fromkeys(int(r) for r in ev["_row"]))  # a KTO pair is two rows of one source row
            out["tokens_sha256"] = _tokens_hash(ev)
        else:  # packed: the blocks lost their row numbers; the split itself is the same call on the row numbers
            out["rows"] = held_out_rows(prepared.source_rows, cfg.dataset.eval_size, seed)
    rundir.write_json_atomic(Path(run_dir) / SPLIT, out)
    return out


# ----------------------------------------------------------------------------------------------------------
# Reading it back

def read_split(run_dir: Path, cfg: Config) -> dict[str, Any]:
    """The recorded split, checked against the dataset as it is now; raises with what to do."""
    p = run_dir / SPLIT
    if not p.is_file():
        raise TunewizError.at(str(p), _("this run recorded no eval split (it was trained before tunewiz recorded one)"),
                              _("train it again with dataset.eval_size set (e.g. 0.1) to hold rows out for tunewiz eval"))
    split = json.loads(p.read_text(encoding="utf-8"))
    if not split.get("rows"):
        raise TunewizError.at("dataset.eval_size", _("the run held out no rows (eval_size: {size}), so every row was trained "
                                                     "on and none is left to measure it fairly").format(size=split.get("eval_size")),
                              _("train with dataset.eval_size set (e.g. 0.1: a tenth of the rows held out), then run tunewiz eval"))
    recorded = split["dataset"]
    if recorded.get("files") is not None:
        now = dataset_files(cfg) or []
        before = {f["path"]: f for f in recorded["files"]}
        if sorted(str(f) for f in now) != sorted(before):
            raise TunewizError.at(cfg.dataset.path, _("the dataset's files changed since the run (files added, removed or moved)"),
                                  _("evaluate against the data the run was trained on: restore it, or train again"))
        for f in now:
            was = before[str(f)]
            same = (_sha256(f) == was["sha256"]) if "sha256" in was else (
                f.stat().st_size == was["bytes"] and int(f.stat().st_mtime) == was.get("mtime"))
            if not same:
                raise TunewizError.at(str(f), _("the dataset changed since the run (its content hash differs), so the rows it "
                                        "held out cannot be told from rows it trained on"),
                                      _("restore the file the run was trained on, or train again on the new data"))
    return split


def weights_dir(run_dir: Path) -> Path:
    """final/ when the run saved one, else the newest complete checkpoint (a stopped run)."""
    final = run_dir / rundir.FINAL
    if (final / "adapter_config.json").is_file() or (final / "config.json").is_file():
        return final
    cp = rundir.last_checkpoint(run_dir)
    if cp is None:
        raise TunewizError.at(str(run_dir), _("the run has no final/ and no complete checkpoint to evaluate"),
                              _("let it finish, or resume it until it saves a checkpoint (training.save_steps)"))
    return cp


# ----------------------------------------------------------------------------------------------------------
# Metrics (maintained libraries)

class _Words:
    """ROUGE tokens: lower-cased words of any script, CJK ideographs and kana one by one (rouge-score's own
    tokenizer keeps only a-z0-9, so Korean or Chinese text would score 0)."""

    PATTERN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self.PATTERN.findall(text.lower())


def _norm(text: str) -> str:
    return " ".join(text.split())


def text_metrics(answers: list[str], refs: list[str]) -> tuple[dict[str, float], list[float]]:
    """ROUGE-L F1 (mean over rows, 0-1), chrF (corpus, 0-100), exact match (0-1); and each row's ROUGE-L."""
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())
    per_row = [scorer.score(r, a)["rougeL"].fmeasure for a, r in zip(answers, refs, strict=True)]
    return {"rougeL": sum(per_row) / len(per_row) if per_row else float("nan"),
            "chrf": sacrebleu.corpus_chrf(answers, [refs]).score if answers else float("nan"),
            "exact_match": sum(_norm(a) == _norm(r) for a, r in zip(answers, refs, strict=True)) / max(1, len(refs))}, per_row


def class_metrics(y_true: list[int], y_pred: list[int], n: int) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    labels = list(range(n))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "f1_macro": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def regression_metrics(y_true: list[float], y_pred: list[float]) -> dict[str, float]:
    import numpy as np
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_squared_error

    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    constant = len(t) < 2 or t.std() == 0 or p.std() == 0  # no correlation of a constant
    return {"mse": float(mean_squared_error(t, p)),
            "pearson": float("nan") if constant else float(pearsonr(t, p)[0]),
            "spearman": float("nan") if constant else float(spearmanr(t, p)[0])}


# ----------------------------------------------------------------------------------------------------------
# The models

class Models:
    """The tuned model and the base model. LoRA: one copy, the base is the adapter disabled. Full fine-tune:
    the base checkpoint it started from, loaded after the tuned one is released."""

    def __init__(self, cfg: Config, base_path: str, weights: Path, plan: Any, hw: Hardware):
        self.cfg, self.base_path, self.weights, self.plan, self.hw = cfg, base_path, weights, plan, hw
        self.lora = (weights / "adapter_config.json").is_file()
        self.model: Any = None

    def _load(self, path: str) -> Any:
        from transformers import set_seed
        from transformers.utils import logging

        from engine.models import load_model

        set_seed(int(self.cfg.training.get("seed", 42)))  # a new classifier head starts as it did in training
        # the load report ("classifier.weight MISSING") and its progress bar: the table's note says it for the base head
        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()
        logging.disable_progress_bar()
        try:
            return load_model(self.cfg, path, self.plan.label_names, self.hw, regression=self.plan.regression)
        finally:
            logging.set_verbosity(verbosity)
            logging.enable_progress_bar()

    def each(self):
        """Yields ("tuned", model) then ("base", model)."""
        import contextlib

        import torch

        if self.lora:
            from peft import PeftModel

            model = PeftModel.from_pretrained(self._load(self.base_path), str(self.weights)).eval()
            self._prep(model)
            yield "tuned", model
            with model.disable_adapter():
                yield "base", model
            return
        model = self._load(str(self.weights)).eval()
        self._prep(model)
        yield "tuned", model
        del model
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()
        model = self._load(self.base_path).eval()
        self._prep(model)
        yield "base", model

    def _prep(self, model: Any) -> None:
        import torch

        if self.hw.cuda and self.cfg.model.quantization == "none":
            model.to(torch.device("cuda"))


def _device(model: Any) -> Any:
    return next(model.parameters()).device


# ----------------------------------------------------------------------------------------------------------
# Causal LM

def _prompt(example: dict[str, Any], plan: Any, tok: Any) -> tuple[str | None, str | None]:
    """(prompt text as the model sees it, reference answer): the conversation up to the last assistant turn
    through the training template with the generation prompt; a prompt-completion row's prompt. Text rows have
    no prompt to answer (None, None)."""
    from engine.data import chat

    if "messages" in example:
        template = plan.template or ""
        msgs, tools, _ = chat.conversation(example["messages"], example.get("tools"), template)
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is None:
            return None, None
        history = [{k: v for k, v in m.items() if k != "weight"} for m in msgs[:last]]
        text = tok.apply_chat_template(history, tools=tools, chat_template=template, tokenize=False, add_generation_prompt=True)
        return text, str(msgs[last].get("content") or "")
    if "prompt" in example:
        return example["prompt"], example["completion"]
    return None, None


def _losses(model: Any, rows: list[dict[str, Any]], pad_id: int, batch_size: int) -> tuple[float, int]:
    """(sum of token losses, trained tokens) over rows with prebuilt labels (-100 where not trained)."""
    import torch

    total, count = 0.0, 0
    dev = _device(model)
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        width = max(len(r["input_ids"]) for r in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, r in enumerate(chunk):
            n = len(r["input_ids"])
            ids[j, :n] = torch.tensor(r["input_ids"])
            labels[j, :n] = torch.tensor(r["labels"])
            mask[j, :n] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits.float()
        shift_logits, shift_labels = logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1).to(dev)
        loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
        total += float(loss)
        count += int((shift_labels != -100).sum())
    return total, count


def _generate(model: Any, tok: Any, prompts: list[str], max_new_tokens: int, batch_size: int) -> tuple[list[str], int, float]:
    """Greedy answers (left-padded batches), new tokens generated (up to each row's end), seconds."""
    import torch

    eos = {tok.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])
    eos.discard(None)
    answers, new_tokens, seconds = [], 0, 0.0
    dev = _device(model)
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tok(prompts[i:i + batch_size], add_special_tokens=False, return_tensors="pt", padding=True).to(dev)
            t0 = time.perf_counter()
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=sorted(eos),
                                     pad_token_id=tok.pad_token_id, temperature=None, top_p=None, top_k=None)
            seconds += time.perf_counter() - t0
            for seq in out[:, enc["input_ids"].shape[1]:].tolist():
                end = next((k + 1 for k, t in enumerate(seq) if t in eos), len(seq))
                new_tokens += end
                answers.append(tok.decode(seq[:end], skip_special_tokens=True).strip())
    finally:
        tok.padding_side = side
    return answers, new_tokens, seconds


def _eval_causal(models: Models, tok: Any, plan: Any, examples: list[tuple[int, dict[str, Any]]], max_new_tokens: int,
                 batch_size: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    from engine.data import pipeline

    notes: list[str] = []
    encoded, prompts, refs, gen_rows = [], [], [], []
    for src, ex in examples:
        enc = pipeline.encode(ex, plan, tok)
        if enc.get("_drop"):
            continue
        encoded.append((src, enc))
        prompt, ref = _prompt(ex, plan, tok)
        if prompt is not None:
            prompts.append(prompt)
            refs.append(ref or "")  # _prompt gives a reference with every prompt
            gen_rows.append(src)
    if len(gen_rows) < len(encoded):
        notes.append(NO_PROMPT.format(n=len(encoded) - len(gen_rows)))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    metrics: dict[str, dict[str, Any]] = {}
    answers: dict[str, list[str]] = {}
    per_row_rouge: dict[str, list[float]] = {}
    rows = [e for _, e in encoded]
    for name, model in models.each():
        total, count = _losses(model, rows, tok.pad_token_id, batch_size)
        loss = total / count if count else float("nan")
        m: dict[str, Any] = {"loss": loss, "perplexity": math.exp(loss) if count and loss < 700 else float("nan"),
                             "tokens": count}
        if prompts:
            answers[name], new, secs = _generate(model, tok, prompts, max_new_tokens, batch_size)
            scores, per_row_rouge[name] = text_metrics(answers[name], refs)
            m.update(scores, new_tokens=new, generate_s=round(secs, 3), tokens_per_s=round(new / secs, 2) if secs else None)
        metrics[name] = m
    out_rows = [{"row": src, "prompt": p, "reference": r, "base": answers["base"][k], "tuned": answers["tuned"][k],
                 "rougeL_base": per_row_rouge["base"][k], "rougeL_tuned": per_row_rouge["tuned"][k]}
                for k, (src, p, r) in enumerate(zip(gen_rows, prompts, refs, strict=True))]
    if not prompts:
        out_rows = [{"row": src} for src, _ in encoded]
    return metrics, out_rows, notes


# ----------------------------------------------------------------------------------------------------------
# Classification and regression

def _eval_classifier(models: Models, tok: Any, plan: Any, examples: list[tuple[int, dict[str, Any]]],
                     batch_size: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    import torch

    from engine.data import pipeline

    encoded = [(src, ex, pipeline.encode(ex, plan, tok)) for src, ex in examples]
    cols = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in encoded[0][2]]
    preds: dict[str, list[Any]] = {}
    probs: dict[str, list[list[float]]] = {}
    metrics: dict[str, dict[str, Any]] = {}
    y = [e["labels"] for _, _, e in encoded]
    for name, model in models.each():
        dev = _device(model)
        out, pr, loss_sum = [], [], 0.0
        for i in range(0, len(encoded), batch_size):
            chunk = [{c: e[c] for c in cols} for _, _, e in encoded[i:i + batch_size]]
            batch = tok.pad(chunk, return_tensors="pt").to(dev)
            with torch.no_grad():
                logits = model(**batch).logits.float()
            target = torch.tensor(y[i:i + batch_size], device=dev)
            if plan.regression:
                vals = logits.view(-1)
                loss_sum += float(torch.nn.functional.mse_loss(vals, target.float(), reduction="sum"))
                out += vals.tolist()
            else:
                loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
                out += logits.argmax(-1).tolist()
                pr += torch.softmax(logits, -1).tolist()
        preds[name], probs[name] = out, pr
        m = regression_metrics(y, out) if plan.regression else class_metrics(y, out, len(plan.label_names))
        metrics[name] = {**({} if plan.regression else {"loss": loss_sum / len(y)}), **m}
    names = plan.label_names
    rows = []
    for k, (src, ex, _enc) in enumerate(encoded):
        text = ex["text"] if not ex.get("text_pair") else f"{ex['text']} [SEP] {ex['text_pair']}"
        if plan.regression:
            rows.append({"row": src, "prompt": text, "reference": y[k], "base": preds["base"][k], "tuned": preds["tuned"][k]})
        else:
            rows.append({"row": src, "prompt": text, "reference": names[y[k]], "base": names[preds["base"][k]],
                         "tuned": names[preds["tuned"][k]], "p_base": dict(zip(names, probs["base"][k], strict=True)),
                         "p_tuned": dict(zip(names, probs["tuned"][k], strict=True))})
    notes = [NEW_HEAD]
    return metrics, rows, notes


# ----------------------------------------------------------------------------------------------------------
# The command

MAIN_METRIC = {"causal-lm": "rougeL", "classification": "accuracy", "regression": "spearman"}


def unmeasurable(run_dir: Path, cfg: Config | None = None) -> TunewizError | None:
    """Why run_eval cannot measure this run on its held-out rows (a preference run), or None: asked before anything
    is loaded or announced (`tunewiz eval`, the monitor's e)."""
    from engine import config

    run_dir = Path(run_dir)
    cfg = cfg or config.load(run_dir / rundir.CONFIG, source=str(run_dir / rundir.CONFIG))
    if cfg.model.task == "causal-lm" and cfg.model.method != "sft":
        return TunewizError.at(f"{run_dir.name}: model.method", _("{method} runs are not measured on their held-out rows yet "
                                                                  "(their held-out loss and reward accuracy are in the run's "
                                                                  "eval lines)").format(method=cfg.model.method),
                               _("compare answers side by side: tunewiz chat {run} (tuned next to base); or benchmarks: "
                                 "tunewiz eval {run} --tasks ...").format(run=run_dir))
    return None


def run_eval(run_dir: Path, rows: int | None = None, max_new_tokens: int = DEFAULT_NEW_TOKENS,
             batch_size: int = 8) -> dict[str, Any]:
    """Evaluate the run on its held-out rows; writes RUN/eval.json and RUN/eval.jsonl; returns eval.json's content."""
    from engine import build, config, models
    from engine.data import formats, load, pipeline
    from engine.models import load_tokenizer

    t0 = time.time()
    run_dir = Path(run_dir)
    cfg = config.load(run_dir / rundir.CONFIG, source=str(run_dir / rundir.CONFIG))
    refused = unmeasurable(run_dir, cfg)
    if refused is not None:
        raise refused
    split = read_split(run_dir, cfg)
    weights = weights_dir(run_dir)
    raw = load.load_dataset(cfg.dataset)
    if len(raw) != split["source_rows"]:
        raise TunewizError.at(cfg.dataset.path, _("the dataset has {now} rows now and had {then} when the run started, so the "
                                                  "rows it held out cannot be found again").format(now=len(raw), then=split["source_rows"]),
                              _("restore the data the run was trained on, or train again"))
    ref = models.resolve(cfg.model.name_or_path, cfg.model.revision)
    base_path = models.materialize(ref)
    tok = load_tokenizer(cfg, base_path)  # as training loaded it; the plan (template, labels) is made as training made it
    plan = pipeline.make_plan(cfg, tok, raw)
    if plan.template and cfg.model.task == "causal-lm":
        tok.chat_template = plan.template
    held = list(split["rows"])
    chosen = held[:rows] if rows else held
    examples = [(i, formats.canonical(raw[i], plan.format)) for i in chosen]
    if split.get("tokens_sha256"):
        all_ids = [pipeline.encode(formats.canonical(raw[i], plan.format), plan, tok)["input_ids"] for i in held]
        h = hashlib.sha256()
        for ids in all_ids:
            h.update(json.dumps(list(ids)).encode())
        if h.hexdigest() != split["tokens_sha256"]:
            raise TunewizError.at(cfg.dataset.path, _("the held-out rows are not what the run held out (their tokens differ: the "
                                                      "data, the chat template or the tokenizer changed)"),
                                  _("evaluate with the data and model the run used"))
    hw = build.hardware()
    mdl = Models(cfg, base_path, weights, plan, hw)
    if cfg.model.task == "causal-lm":
        kind = "causal-lm"
        metrics, out_rows, notes = _eval_causal(mdl, tok, plan, examples, max_new_tokens, batch_size)
    else:
        kind = "regression" if plan.regression else "classification"
        metrics, out_rows, notes = _eval_classifier(mdl, tok, plan, examples, batch_size)
    main = MAIN_METRIC[kind]
    if main not in metrics["tuned"]:
        main = "perplexity"
    result = {"v": 1, "run": run_dir.name, "task": kind, "weights": weights.name, "adapter": mdl.lora,
              "time": round(time.time(), 3), "seconds": round(time.time() - t0, 2),
              "rows": len(out_rows), "held_out": len(held), "rows_used": chosen,
              "dataset": {"path": cfg.dataset.path, "rows": split["source_rows"]},
              "generation": {"max_new_tokens": max_new_tokens, "do_sample": False} if kind == "causal-lm" else None,
              "main": {"metric": main, "tuned": metrics["tuned"].get(main), "base": metrics["base"].get(main)},
              "tuned": metrics["tuned"], "base": metrics["base"], "notes": notes}
    if kind == "classification":
        result["labels"] = plan.label_names
    rundir.write_json_atomic(run_dir / RESULT, _finite(result))
    places = load.RowPlaces(cfg.dataset)
    tmp = run_dir / f".{ROWS}.{os.getpid()}.tmp"  # the pattern of rundir.write_json_atomic's temporary files
    with open(tmp, "w", encoding="utf-8") as f:
        for r in out_rows:  # row: the source row counted from 0 (as eval_split.json); place: where it is in the file
            f.write(json.dumps(_finite({"row": r["row"], "place": places.where(r["row"]), **r}), ensure_ascii=False) + "\n")
    tmp.replace(run_dir / ROWS)
    return result


def _finite(v: Any) -> Any:
    """NaN and infinities as null: eval.json stays strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


LABELS = {"loss": N_("eval loss"), "perplexity": N_("perplexity"), "rougeL": "ROUGE-L F1 (0-1)", "chrf": "chrF (0-100)",
          "exact_match": N_("exact match (0-1)"), "tokens_per_s": N_("generation tokens/s"), "accuracy": N_("accuracy"),
          "f1_macro": N_("macro F1"), "mse": "MSE", "pearson": "Pearson", "spearman": "Spearman"}
WHO = {"base": N_("base"), "tuned": N_("tuned")}

# the notes eval.json keeps (in English: the file is the same in any language), translated where the table shows them
NO_PROMPT = N_("{n} rows have no prompt to answer (text rows): loss and perplexity only")
NEW_HEAD = N_("the base model's classifier head is new (randomly initialised, as training started from): its numbers are "
              "chance level, the floor the tuned head is compared with")
NOTES = (NO_PROMPT, NEW_HEAD)


def _note(text: str) -> str:
    """A note of eval.json in the user's language: the English template it was made from, translated, with the same
    values; a note of no known template as it is."""
    for template in NOTES:
        fields = [name for _lit, name, _spec, _conv in string.Formatter().parse(template) if name]
        pattern = "".join(re.escape(lit) + (f"(?P<{name}>.+?)" if name else "")
                          for lit, name, _spec, _conv in string.Formatter().parse(template))
        m = re.fullmatch(pattern, text, re.S)
        if m:
            return _(template).format(**{k: m.group(k) for k in fields})
    return text


def _pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded to `width` terminal cells (a Korean letter takes two)."""
    from rich.cells import cell_len

    fill = " " * max(0, width - cell_len(text))
    return fill + text if right else text + fill


def table(result: dict[str, Any]) -> list[str]:
    """The short table `tunewiz eval` prints: each metric, base beside tuned."""
    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = [_("{run}: {rows} held-out rows, weights {weights}, {seconds:.0f} s").format(
                 run=result["run"], rows=result["rows"], weights=result["weights"], seconds=result["seconds"]),
             "  " + " ".join((_pad(_("metric"), 24), _pad(_(WHO["base"]), 12, True), _pad(_(WHO["tuned"]), 12, True)))]
    for key, label in LABELS.items():
        if key in result["tuned"]:
            lines.append("  " + _pad(_(label), 24) + f" {fmt(result['base'].get(key)):>12} {fmt(result['tuned'].get(key)):>12}")
    if "confusion_matrix" in result["tuned"]:
        names = result.get("labels") or []
        for who in ("base", "tuned"):
            lines.append("  " + _("confusion matrix, {who} (rows: reference {labels}; columns: predicted)").format(
                who=_(WHO[who]), labels=", ".join(names)))
            lines += [f"    {names[i] if i < len(names) else i!s:>12} {' '.join(f'{c:>6}' for c in row)}"
                      for i, row in enumerate(result[who]["confusion_matrix"])]
    lines += ["  " + _("note: {note}").format(note=_note(n)) for n in result.get("notes", [])]
    return lines


def summary(run_dir: Path) -> dict[str, Any] | None:
    """The main metric of a run's eval.json (for `tunewiz runs`), or None."""
    try:
        data = json.loads((Path(run_dir) / RESULT).read_text(encoding="utf-8"))
        return {**data["main"], "rows": data.get("rows")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ----------------------------------------------------------------------------------------------------------
# Benchmark tasks through lm-evaluation-harness (`tunewiz eval RUN --tasks ...`)

TASKS_RESULT = "eval_tasks.json"


def task_specs(tasks: list[str]) -> tuple[list[str], list[str]]:
    """(task names, folders to include): a name from lm-eval's registry as it is, a task YAML file by the `task:`
    it defines (its folder included, so its own includes resolve), a folder by every task YAML in it."""
    import yaml

    names, include = [], []
    for spec in tasks:
        p = Path(spec).expanduser()
        if p.suffix in (".yaml", ".yml") or p.exists():
            if not p.exists():
                raise TunewizError.at("--tasks", _("no such task file: {file}").format(file=spec),
                                      _("give a task YAML file, a folder of them, or a task name"))
            files = [p] if p.is_file() else sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
            found = []
            for f in files:
                try:
                    doc = yaml.safe_load(f.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
                    raise TunewizError.at(str(f), _("not a readable task YAML ({error})").format(error=type(e).__name__),
                                          _("see lm-evaluation-harness's task guide (docs/new_task_guide.md)")) from e
                if isinstance(doc, dict) and isinstance(doc.get("task"), str):
                    found.append(doc["task"])
            if not found:
                raise TunewizError.at(str(p), _("defines no task (no `task:` key)"), _("each task YAML names its task: `task: my_task`"))
            names += found
            include.append(str((p if p.is_dir() else p.parent).resolve()))
        else:
            names.append(spec)
    return names, sorted(set(include))


def run_tasks(run_dir: Path, tasks: list[str], limit: int | None = None, batch_size: int = 8) -> dict[str, Any]:
    """Run lm-evaluation-harness tasks on the tuned model and on its base (the same loader for both: lm-eval's
    `hf` model, with `peft=` for an adapter); writes RUN/eval_tasks.json. A task of the harness's registry needs
    its data (the network, or the HF cache); a local task YAML over local files runs offline."""
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise TunewizError.at("--tasks", _("lm-evaluation-harness is not installed"),
                              _("pip install 'lm-eval>=0.4.9' (or: pip install -e '.[tasks]')")) from e
    import torch

    from engine import generate, models

    run_dir = Path(run_dir)
    src = generate.find_result(run_dir)
    if src.task != "causal-lm":
        raise TunewizError.at("--tasks", _("lm-evaluation-harness tasks measure language models; this run trained a classifier"),
                              _("measure it on its held-out rows: tunewiz eval {run}").format(run=run_dir))
    names, include = task_specs(tasks)
    manager = TaskManager(include_path=include or None)
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        from engine.errors import did_you_mean

        hint = did_you_mean(unknown[0], list(manager.all_tasks))
        raise TunewizError.at("--tasks", _("unknown task {task!r}").format(task=unknown[0]) + (f"; {hint}" if hint else ""),
                              _("give a task name of lm-evaluation-harness (lm-eval ls tasks) or a task YAML file"))
    base_path = models.materialize(models.resolve(src.base))
    cuda = torch.cuda.is_available()
    common = {"dtype": "bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32"}
    tuned_args = ({"pretrained": str(base_path), "peft": str(src.path), "tokenizer": str(src.path)} if src.lora
                  else {"pretrained": str(src.path)})
    from transformers import AutoTokenizer

    chat = bool(getattr(AutoTokenizer.from_pretrained(str(src.path)), "chat_template", None))
    out: dict[str, Any] = {"v": 1, "run": run_dir.name, "weights": src.path.name, "tasks": names, "limit": limit,
                           "chat_template": chat, "results": {}}
    t0 = time.time()
    for who, margs in (("tuned", tuned_args), ("base", {"pretrained": str(base_path)})):
        res = lm_eval.simple_evaluate(model="hf", model_args={**margs, **common}, tasks=names, task_manager=manager,
                                      batch_size=batch_size, device="cuda" if cuda else "cpu", limit=limit,
                                      apply_chat_template=chat, log_samples=False)
        for task, metrics in (res or {}).get("results", {}).items():
            for key, value in metrics.items():
                if key == "alias" or "stderr" in key or not isinstance(value, int | float):
                    continue
                out["results"].setdefault(task, {}).setdefault(key.replace(",none", ""), {})[who] = value
    out["seconds"] = round(time.time() - t0, 2)
    rundir.write_json_atomic(run_dir / TASKS_RESULT, _finite(out))
    return out


def tasks_table(result: dict[str, Any]) -> list[str]:
    head = [_("{run}: lm-evaluation-harness, weights {weights}").format(run=result["run"], weights=result["weights"])]
    if result.get("limit"):
        head.append(_("first {limit} rows a task").format(limit=result["limit"]))
    if result.get("chat_template"):
        head.append(_("chat template applied"))
    head.append(_("{seconds:.0f} s").format(seconds=result.get("seconds", 0)))
    lines = [", ".join(head),
             "  " + " ".join((_pad(_("task"), 22), _pad(_("metric"), 16), _pad(_(WHO["base"]), 10, True),
                              _pad(_(WHO["tuned"]), 10, True)))]
    for task, metrics in result["results"].items():
        for metric, v in metrics.items():
            fmt = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
            lines.append(f"  {task[:22]:22} {metric[:16]:16} {fmt(v.get('base')):>10} {fmt(v.get('tuned')):>10}")
    return lines
