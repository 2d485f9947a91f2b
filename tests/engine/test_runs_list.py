"""`tunewiz runs` at 80 columns, smoke tests hidden, and `tunewiz rm` (#14; run directories written by hand)."""

import json
import os

import pytest

from engine import cli, rundir, runs


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_REGISTRY", str(tmp_path / "registry.jsonl"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)


def make_run(path, state, pid=None, smoke=None, events=()):
    path.mkdir(parents=True)
    rundir.mark(path)
    rundir.update_status(path, state=state, pid=pid, started=1.7e9, smoke=smoke)
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    runs.register(path)
    return path


def test_runs_fits_80_columns_and_hides_smoke_tests(tmp_path, capsys):
    deep = tmp_path / "a" / "very" / "long" / "folder" / "of" / "experiments"
    make_run(deep / "qwen2.5-7b-instruct-lora-20250101-120000", "failed",
             events=[{"type": "log", "step": 1200, "max_steps": 12000, "loss": 1.2345}])
    make_run(deep / "smollm2-identity-lora-smoke", "finished", smoke=10)
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "qwen2.5-7b-instruct-lor…" in out and "name: qwen2.5-7b-instruct-lora-20250101-120000" in out
    assert "1200/12000" in out and "smollm2-identity-lora-smoke" not in out
    assert "(1 smoke test hidden: tunewiz runs --all)" in out
    assert cli.main(["runs", "--all"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-identity-lora-sm" in out and "finished*" in out and max(map(len, out.splitlines())) <= 80
    assert cli.main(["runs", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_rm_deletes_a_finished_run_of_tunewiz(tmp_path, capsys):
    run = make_run(tmp_path / "runs" / "done", "finished")
    (run / "final").mkdir()
    (run / "final" / "adapter_model.safetensors").write_bytes(b"x")
    assert cli.main(["rm", "done", "--yes"]) == 0
    assert not run.exists() and (tmp_path / "runs").is_dir()
    assert "deleted" in capsys.readouterr().out
    assert cli.main(["runs"]) == 0 and "no runs yet" in capsys.readouterr().out


def test_rm_refuses_a_running_run_a_folder_with_other_files_and_asks_without_yes(tmp_path, capsys, monkeypatch):
    live = make_run(tmp_path / "live", "running", pid=os.getpid())
    rundir.update_status(live, **{k: v for k, v in rundir.read_status(live).items() if k != "state"})
    assert cli.main(["rm", "live", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "still running" in err and "tunewiz stop live" in err and live.exists()

    mine = make_run(tmp_path / "mixed", "finished")
    (mine / "notes.txt").write_text("keep me")
    assert cli.main(["rm", "mixed", "--yes"]) == 2
    assert "notes.txt" in capsys.readouterr().err and (mine / "notes.txt").exists()

    make_run(tmp_path / "ask", "stopped")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert cli.main(["rm", "ask"]) == 1 and (tmp_path / "ask").exists()
