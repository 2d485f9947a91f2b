"""Chat with a run's result: one model copy answers as tuned and as base, the base answer is the base model's,
streaming gives the same text, a stopped run answers from its newest complete checkpoint, a classifier
gives label probabilities. On tiny real runs of the two demos (tests/trained.py)."""

import json
import shutil
import threading

import pytest

from engine import generate
from engine.errors import TunewizError
from tests import trained

pytestmark = pytest.mark.slow
ASK = [{"role": "user", "content": "What is your name?"}]
SHORT = generate.Settings(max_new_tokens=12)


@pytest.fixture(scope="module")
def chat():
    return generate.load(trained.identity_run())


@pytest.fixture(scope="module")
def classifier():
    return generate.load(trained.sentiment_run())


def test_tuned_and_base_answer_from_one_model_copy(chat):
    import torch
    from peft import PeftModel

    assert chat.source.path.name == "final" and chat.source.lora and chat.base_model is None
    assert isinstance(chat.model, PeftModel)
    weights = {id(p) for p in chat.model.parameters()}
    with chat.use("base") as base:
        assert base is chat.model and {id(p) for p in base.parameters()} == weights
    # the adapter is on for tuned and off for base: the same weights give different logits
    enc = chat.encode(ASK)
    with torch.no_grad():
        with chat.use("tuned") as m:
            tuned = m(**enc).logits
        with chat.use("base") as m:
            base_logits = m(**enc).logits
    assert not torch.allclose(tuned, base_logits, atol=1e-4)


def test_base_answer_is_the_plain_base_models_greedy_answer(chat, smol_path):
    import torch
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(smol_path, dtype=torch.float32).eval()
    enc = chat.encode(ASK)
    out = plain.generate(**enc, generation_config=SHORT.generation_config(chat.tokenizer))
    want = chat.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    got = chat.answer(ASK, "base", SHORT)
    assert got.text == want and got.tokens > 0


def test_streaming_gives_the_same_text_and_its_speed(chat):
    for which in generate.WHICH:
        whole = chat.answer(ASK, which, SHORT)
        *pieces, ans = list(chat.stream(ASK, which, SHORT))
        assert pieces and "".join(pieces) == whole.text == ans.text
        assert ans.which == which and ans.tokens == whole.tokens and ans.tokens_per_s > 0
        assert 0 < ans.first_token_s <= ans.seconds and not ans.stopped
        assert "tokens/s" in generate.summary(ans)


def test_the_trained_template_and_multi_turn_history(chat):
    history = [*ASK, {"role": "assistant", "content": "I am Tunewiz Assistant."}, {"role": "user", "content": "Who made you?"}]
    text = chat.tokenizer.decode(chat.encode(history)["input_ids"][0])
    assert text.count("<|im_start|>user") == 2 and "I am Tunewiz Assistant.<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    # final/ carries the template trained on (SmolLM2's, with its default system prompt)
    assert text.startswith("<|im_start|>system\n")


def test_a_cancelled_answer_stops_early(chat):
    cancel = threading.Event()
    got = []
    for piece in chat.stream(ASK, "base", generate.Settings(max_new_tokens=60), cancel=cancel):
        got.append(piece)
        cancel.set()
    ans = got[-1]
    assert ans.stopped and ans.tokens < 60


def test_a_stopped_run_answers_from_its_newest_complete_checkpoint(tmp_path):
    run = tmp_path / "stopped"
    shutil.copytree(trained.identity_run(), run, ignore=shutil.ignore_patterns("final", "optimizer.pt"))
    assert generate.find_result(run).path.name == "checkpoint-2"
    (run / "checkpoint-2" / "trainer_state.json").unlink()  # killed while saving: not complete
    src = generate.find_result(run)
    assert src.path.name == "checkpoint-1" and src.lora and src.base == "demo:smollm2-135m-instruct"
    c = generate.load(run)
    assert c.answer(ASK, "tuned", generate.Settings(max_new_tokens=4)).tokens > 0
    shutil.rmtree(run / "checkpoint-1")
    with pytest.raises(TunewizError, match="no result yet"):
        generate.find_result(run)


def test_classifier_gives_probabilities_of_the_tuned_model_and_the_untrained_head(classifier):
    assert classifier.is_classifier and classifier.source.label_names == ["negative", "positive"]
    tuned = classifier.classify("What a wonderful, moving film.")
    base = classifier.classify("What a wonderful, moving film.", "base")
    for probs in (tuned, base):
        assert {label for label, _ in probs} == {"negative", "positive"}
        assert sum(p for _, p in probs) == pytest.approx(1.0)
    assert dict(tuned) != pytest.approx(dict(base), abs=1e-4)


def test_cli_chat_prompt_prints_both_answers(capsys):
    from engine import cli

    run = trained.identity_run()
    assert cli.main(["chat", str(run), "--prompt", "What is your name?", "--max-new-tokens", "6", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["which"] for r in rows] == ["tuned", "base"] and all(r["tokens"] > 0 and r["text"] for r in rows)
    assert cli.main(["chat", str(trained.sentiment_run()), "--prompt", "great fun"]) == 0
    out = capsys.readouterr().out
    assert "--- tuned (final)" in out and "untrained head" in out and "positive" in out


def test_cli_chat_on_a_run_without_a_result_says_so(tmp_path, capsys):
    from engine import cli

    run = tmp_path / "empty"
    shutil.copytree(trained.identity_run(), run, ignore=shutil.ignore_patterns("final", "checkpoint-*"))
    assert cli.main(["chat", str(run), "--prompt", "hi"]) == cli.EXIT_INPUT
    assert "no result yet" in capsys.readouterr().err


def test_a_full_fine_tune_is_compared_with_the_checkpoint_it_started_from():
    c = generate.load(trained.sentiment_full_run())
    assert not c.source.lora and c.base_model is not None and c.base_model is not c.model
    with c.use("base") as m:
        assert m is c.base_model
    tuned, base = c.classify("a dull, tired plot"), c.classify("a dull, tired plot", "base")
    assert {label for label, _ in tuned} == {"negative", "positive"} and dict(tuned) != pytest.approx(dict(base), abs=1e-4)


@pytest.mark.slow
def test_a_full_fine_tune_of_a_chat_model_chats_beside_its_base(capsys):
    """A chat model trained without LoRA: the tuned weights answer from final/, the base is the checkpoint it
    started from (a second copy, loaded as training loaded it), both with the trained chat template."""
    from engine import cli

    run = trained.identity_full_run()
    assert not (run / "final" / "adapter_config.json").exists() and (run / "final" / "model.safetensors").exists()
    c = generate.load(run)
    assert not c.source.lora and c.base_model is not None and c.base_model is not c.model
    msgs = [{"role": "user", "content": "What is your name?"}]
    settings = generate.Settings(max_new_tokens=6)
    answers = {which: [p for p in c.stream(msgs, which, settings) if isinstance(p, generate.Answer)][-1] for which in generate.WHICH}
    assert all(a.tokens > 0 for a in answers.values())
    import torch

    enc = c.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        lt, lb = c.model(**enc).logits, c.base_model(**enc).logits
    assert not torch.allclose(lt, lb)  # one optimizer step of a full fine-tune moved the weights
    assert cli.main(["chat", str(run), "--prompt", "What is your name?", "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert "--- tuned (final)" in out and "--- base (demo:smollm2-135m-instruct)" in out
