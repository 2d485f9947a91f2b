"""Loading presets: defaults, --set precedence, number coercion, round trips."""

import pytest
import yaml

from engine import config
from engine.errors import TunewizError


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_defaults_are_the_demo():
    cfg = config.load(None)
    assert cfg.model.name_or_path == "demo:smollm2-135m-instruct"
    assert cfg.dataset.path == "sample:identity"
    assert cfg.lora_enabled and cfg.lora["r"] == 16 and cfg.lora["target_modules"] == "all-linear"


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    # PyYAML reads 2e-4 as a string; users write it that way all the time.
    cfg = config.load(write(tmp_path, "training:\n  learning_rate: 2e-4\n  max_steps: '10'\n"))
    assert cfg.training["learning_rate"] == pytest.approx(2e-4)
    assert cfg.training["max_steps"] == 10


def test_set_overrides_file(tmp_path):
    p = write(tmp_path, "training:\n  learning_rate: 1.0e-4\n  num_train_epochs: 2\n")
    cfg = config.load(p, ["training.learning_rate=3e-4", "lora.r=8", "dataset.columns.text=body", "model.task=sequence-classification"])
    assert cfg.training == {"learning_rate": pytest.approx(3e-4), "num_train_epochs": 2}
    assert cfg.lora["r"] == 8
    assert cfg.dataset.columns == {"text": "body"}
    assert cfg.model.task == "sequence-classification"


def test_lora_disabled_means_full_finetune(tmp_path):
    assert not config.load(write(tmp_path, "lora:\n  enabled: false\n")).lora_enabled
    assert not config.load(write(tmp_path, "lora: null\n")).lora_enabled


def test_all_problems_reported_at_once(tmp_path):
    p = write(tmp_path, "model:\n  nme: x\ntraining:\n  learnig_rate: 1\n  per_device_train_batch_size: 0\n")
    with pytest.raises(TunewizError) as e:
        config.load(p)
    text = str(e.value)
    assert "model.nme" in text and "did you mean name_or_path" in text
    assert "training.learnig_rate" in text and "did you mean learning_rate" in text
    assert "per_device_train_batch_size" in text and "greater than 0" in text
    assert len(e.value.problems) == 3


def test_choice_fields_checked(tmp_path):
    with pytest.raises(TunewizError, match="cosin.*did you mean cosine"):
        config.load(write(tmp_path, "training:\n  lr_scheduler_type: cosin\n"))


def test_sft_only_keys_refused_for_classification(tmp_path):
    with pytest.raises(TunewizError, match="packing is an SFT option"):
        config.load(write(tmp_path, "model:\n  task: sequence-classification\ntraining:\n  packing: true\n"))
    # max_length is shared: tunewiz tokenizes classification data with it
    cfg = config.load(write(tmp_path, "model:\n  task: sequence-classification\ntraining:\n  max_length: 128\n"))
    assert cfg.training["max_length"] == 128


def test_dump_round_trips(tmp_path):
    src = write(tmp_path, "model:\n  name_or_path: org/model\n  trust_remote_code: false\ndataset:\n  path: d.jsonl\n"
                "  columns: {prompt: q, completion: a}\nlora:\n  r: 4\n  use_dora: true\ntraining:\n"
                "  learning_rate: 1.0e-5\n  optim: adamw_torch\n  report_to: [tensorboard]\n")
    cfg = config.load(src)
    again = tmp_path / "again.yaml"
    again.write_text(config.dump(cfg, "header line"))
    assert again.read_text().startswith("# header line\n")
    cfg2 = config.load(again)
    assert config.to_dict(cfg2) == config.to_dict(cfg)
    data = yaml.safe_load(again.read_text())
    assert data["lora"]["use_dora"] is True and data["training"]["report_to"] == ["tensorboard"]


def test_header_comment(tmp_path):
    p = write(tmp_path, "# what\n# hardware\nversion: 1\n")
    assert config.header_comment(p) == "what\nhardware"


def test_yaml_no_is_the_strategy_not_false(tmp_path):
    cfg = config.load(write(tmp_path, "training:\n  eval_strategy: no\n  save_strategy: no\n"), ["training.logging_strategy=no"])
    assert cfg.training == {"eval_strategy": "no", "save_strategy": "no", "logging_strategy": "no"}


@pytest.mark.parametrize("text, example", [("model: foo\n", "model:\n  name_or_path: foo"),
                                           ("dataset: data.jsonl\n", "dataset:\n  path: data.jsonl"),
                                           ("speed: 5\n", "speed:\n  key: value")])
def test_a_section_that_is_not_a_mapping_is_one_problem_with_an_example(tmp_path, text, example):
    """`model: foo` (a new user's preset): one problem whose fix shows what they meant, lined up under the fix; not a
    second one in pydantic's words naming its class (ModelSection)."""
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(TunewizError) as e:
        config.load(p)
    [problem] = e.value.problems
    assert problem.what == "must be a mapping of keys" and problem.fix == "write it as\n" + example
    assert str(problem).endswith("fix: write it as\n" + "\n".join(" " * 9 + line for line in example.split("\n")))
    assert "Section" not in str(e.value)
