"""`tunewiz preview PRESET --json`: one JSON object a line, the rows the trainer receives."""

import json

from engine import cli, config, preflight, preview
from engine.data import pipeline
from tests.conftest import PRESETS


def test_preview_json_prints_the_collated_rows(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = str(PRESETS / "smollm2-identity-lora.yaml")
    assert cli.main(["preview", preset, "--json", "--set", "training.per_device_train_batch_size=3"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert {"tokens", "input_ids", "attention_mask", "labels"} <= set(row)
        assert len(row["tokens"]) == len(row["input_ids"]) == len(row["attention_mask"]) == len(row["labels"])
    # the same functions, called directly, give the same rows
    cfg = config.load(preset, ["training.per_device_train_batch_size=3"])
    checked = preflight.check(cfg)
    prepared = pipeline.prepare(cfg, checked.tokenizer, checked.raw)
    batch = next(preview.batches(prepared, pipeline.build_collator("causal-lm", checked.args, checked.tokenizer), 3))
    assert [r.pop("place") for r in rows] == [f"sample:identity:{r['source_row'] + 1}" for r in rows]  # its line in the file
    assert rows == list(preview.rows(batch, checked.tokenizer))
    assert any(lab == -100 for lab in rows[0]["labels"]) and any(lab != -100 for lab in rows[0]["labels"])
