"""#18: the command line in Korean. Real `tunewiz --lang ko ...` processes (python -m engine.cli) for runs, presets,
validate, stop and rm; TUNEWIZ_LANG=ko without the flag; tables aligned by terminal cells (Hangul takes two); --json
and the files tunewiz keeps (status.json's error, the run's log) the same in every language; and a foreground run's
lines (slow: a real CPU run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import fmt, launch, rundir, runs
from tests.conftest import PRESETS, REPO


def make_run(path: Path, state: str, pid: int | None = None, smoke: int | None = None, error: str | None = None,
             registry: Path | None = None) -> Path:
    path.mkdir(parents=True)
    rundir.mark(path)
    rundir.update_status(path, state=state, pid=pid, started=1.7e9, smoke=smoke, error=error)
    events = [{"v": 1, "type": "start", "time": 1.7e9, "max_steps": 300, "step": 0},
              {"v": 1, "type": "log", "time": 1.7e9 + 5, "step": 12, "max_steps": 300, "loss": 1.2345}]
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if registry is not None:
        with open(registry, "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": str(path.resolve()), "time": 1.7e9}) + "\n")
    return path


@pytest.fixture
def home(tmp_path):
    """A user's folder: its own registry of runs, presets folder and tunewiz home; the language unset."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TUNEWIZ_HOME": str(tmp_path / "home"),
           "TUNEWIZ_REGISTRY": str(tmp_path / "runs.jsonl"), "TUNEWIZ_PRESETS": str(tmp_path / "presets"),
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "COLUMNS": "80", "LANG": "C.UTF-8"}
    return tmp_path, env


def tunewiz(env: dict[str, str], *args: str, cwd: Path, lang: str | None = "ko", timeout: float = 120,
            **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *(["--lang", lang] if lang else []), *args], cwd=cwd,
                          capture_output=True, text=True, env={**env, **extra}, timeout=timeout, stdin=subprocess.DEVNULL)


def columns_of(line: str, starts: list[int]) -> list[str]:
    """The text at each cell offset of a line (a column's first characters)."""
    out, at = [], 0
    for i, ch in enumerate(line):
        if at in starts:
            out.append(line[i:])
        at += fmt.cells(ch)
    return out


def test_runs_in_korean_keeps_its_columns_aligned_by_terminal_cells(home):
    tmp, env = home
    reg = Path(env["TUNEWIZ_REGISTRY"])
    make_run(tmp / "runs" / "smol-demo", "finished", registry=reg)
    make_run(tmp / "runs" / "한국어-실행", "stopped", registry=reg)
    make_run(tmp / "runs" / "긴-한국어-이름의-실행-폴더입니다-정말로", "failed", registry=reg,
             error="the training process ended by SIGKILL (killed with kill -9 or by the out-of-memory killer)")
    make_run(tmp / "runs" / "smk", "finished", smoke=3, registry=reg)
    r = tunewiz(env, "runs", "--all", cwd=tmp)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["이름", "상태", "스텝", "손실", "시작", "pid"]
    rows = [line for line in lines if "12/300" in line]
    assert len(rows) == 4
    # every row's state starts at cell 25, its step ends at cell 44, and no line is wider than the terminal
    for line in [lines[0], *rows]:
        head = columns_of(line, [25])[0]
        assert fmt.cells(line[: len(line) - len(head)]) == 25, line
    for line in rows:
        step_end = line.index("12/300") + len("12/300")
        assert fmt.cells(line[:step_end]) == 44, line
    assert all(fmt.cells(line) <= 80 for line in lines), r.stdout
    assert any(line.startswith("smol-demo ") and " 완료 " in line for line in rows)
    assert any(line.startswith("한국어-실행 ") and " 중지됨 " in line for line in rows)
    assert any(line.startswith("긴-한국어-이름의-실행-…") and " 실패 " in line for line in rows)  # cut at 24 cells
    assert any(line.startswith("smk ") and " 완료* " in line for line in rows)
    assert "  이름: 긴-한국어-이름의-실행-폴더입니다-정말로" in lines
    assert "  원인: 학습 프로세스가 SIGKILL 신호로 끝났습니다 (kill -9 또는 메모리 부족(OOM)" in lines  # wrapped at 80 cells
    assert "* 스모크 테스트(tunewiz smoke): 몇 스텝만 돌리고 아무것도 저장하지 않습니다" in lines
    assert "폴더 경로 보기: tunewiz runs --json; 실행 삭제: tunewiz rm NAME" in lines

    wide = tunewiz(env, "runs", cwd=tmp, COLUMNS="120")
    assert "(스모크 테스트 1개 숨김: tunewiz runs --all)" in wide.stdout
    head = wide.stdout.splitlines()[0]
    assert head.endswith("pid  경로") and fmt.cells(head) == 72 + 2 + 4  # the fixed columns take 72 cells

    # --json is the same in every language: English states and causes, as status.json keeps them
    ko, en = tunewiz(env, "runs", "--all", "--json", cwd=tmp), tunewiz(env, "runs", "--all", "--json", cwd=tmp, lang="en")
    assert ko.stdout == en.stdout and ko.stdout.count("\n") == 4
    failed = [json.loads(line) for line in ko.stdout.splitlines() if json.loads(line)["state"] == "failed"]
    assert failed[0]["cause"].startswith("the training process ended by SIGKILL")


def test_tunewiz_lang_speaks_korean_without_the_flag_and_english_stays_as_it_was(home):
    tmp, env = home
    r = tunewiz(env, "runs", cwd=tmp, lang=None, TUNEWIZ_LANG="ko")
    assert r.stdout == "아직 실행이 없습니다. `tunewiz run PRESET`이나 마법사로 시작하세요\n", r.stdout + r.stderr
    r = tunewiz(env, "runs", cwd=tmp, lang=None, LANG="ko_KR.UTF-8")  # the terminal's locale, as gettext reads it
    assert r.stdout.startswith("아직 실행이 없습니다")
    r = tunewiz(env, "runs", cwd=tmp, lang="en", TUNEWIZ_LANG="ko")  # the flag wins
    assert r.stdout == "no runs yet: start one with `tunewiz run PRESET` or the wizard\n"


def test_presets_in_korean_aligns_the_titles_of_hangul_names(home):
    tmp, env = home
    mine = Path(env["TUNEWIZ_PRESETS"])
    mine.mkdir()
    (mine / "한국어-프리셋.yaml").write_text("# 내 한국어 프리셋\nmodel: {name_or_path: demo:smollm2-135m-instruct}\n")
    (mine / "mine.yaml").write_text("model: {name_or_path: demo:smollm2-135m-instruct}\n")
    r = tunewiz(env, "presets", cwd=tmp)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "tunewiz 기본 제공:" and f"내 프리셋 ({mine}):" in lines
    entries = [line for line in lines if line.startswith("  ")]
    width = max(fmt.cells(f.stem) for f in [*PRESETS.glob("*.yaml"), *mine.glob("*.yaml")]) + 2
    assert "  한국어-프리셋" + " " * (width - 13) + " 내 한국어 프리셋" in entries  # 13 cells, padded to the widest name + 2
    assert any(line.startswith("  mine ") and line.endswith(" (머리 주석 없음)") for line in entries)
    # the title column starts at the same cell on every line (2 + the widest name in cells + 2 + 1)
    starts = set()
    for line in entries:
        name = line[2:].split(" ", 1)[0]
        rest = line[2 + len(name):]
        starts.add(2 + fmt.cells(name) + len(rest) - len(rest.lstrip(" ")))
    assert len(starts) == 1, r.stdout
    en = tunewiz(env, "presets", cwd=tmp, lang="en")
    assert en.stdout.splitlines()[0] == "shipped with tunewiz:" and f"yours ({mine}):" in en.stdout


def test_validate_a_bad_preset_and_stop_rm_a_missing_run_speak_korean(home):
    tmp, env = home
    r = tunewiz(env, "validate", "presets/../nowhere", cwd=tmp)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "tunewiz: 오류"
    assert "presets/../nowhere: 그런 프리셋 파일이 없습니다 (/ 나 .. 이 들어간 이름은 경로로 읽으며" in r.stderr
    assert "해결: 경로를 확인하거나 프리셋 이름만 쓰세요" in r.stderr
    bad = tmp / "bad.yaml"
    bad.write_text("model:\n  name_or_path: demo:smollm2-135m-instruct\nlaunch:\n  processes: 0\n")
    r = tunewiz(env, "validate", str(bad), cwd=tmp)
    assert r.returncode == 2 and "오류" in r.stderr.splitlines()[0] and "해결:" in r.stderr, r.stderr
    for verb in ("stop", "rm"):
        r = tunewiz(env, verb, "nowhere", cwd=tmp)
        assert r.returncode == 2
        assert r.stderr == ("tunewiz: 오류\n  nowhere: 그런 실행이 없습니다\n"
                            "      해결: 실행 폴더나 `tunewiz runs`에 나오는 이름을 주세요\n"), r.stderr


def test_stop_and_rm_of_a_finished_run_in_korean(home):
    tmp, env = home
    reg = Path(env["TUNEWIZ_REGISTRY"])
    run = make_run(tmp / "runs" / "done", "finished", registry=reg)
    r = tunewiz(env, "stop", "done", cwd=tmp)
    assert r.returncode == 2 and "실행 중이 아닙니다 (상태: 완료)" in r.stderr and "해결: 중지할 것이 없습니다" in r.stderr
    r = tunewiz(env, "rm", "done", cwd=tmp)  # no terminal to ask on
    assert r.returncode == 2 and "삭제하지 않았습니다: 확인을 받을 터미널이 없습니다" in r.stderr and "해결: --yes를 붙이세요" in r.stderr
    (run / "notes.txt").write_text("mine")
    r = tunewiz(env, "rm", "done", "--yes", cwd=tmp)
    assert r.returncode == 2 and "tunewiz가 삭제하지 않습니다: tunewiz가 쓰지 않은 파일이 있습니다: notes.txt" in r.stderr
    (run / "notes.txt").unlink()
    r = tunewiz(env, "rm", "done", "--yes", cwd=tmp)
    assert r.returncode == 0 and r.stdout == f"{run.resolve()} 삭제함\n" and not run.exists()


def test_help_texts_and_argparse_words_are_korean(home):
    tmp, env = home
    r = tunewiz(env, "run", "--help", cwd=tmp)
    assert r.returncode == 0
    assert "백그라운드에서 시작하고 바로 돌아옵니다" in r.stdout and "프로세스" not in r.stdout.split("\n")[0]
    # argparse's own words (cli.ARGPARSE_WORDS) are read through tunewiz's catalog; the command line itself stays
    lines = r.stdout.splitlines()
    assert lines[0].startswith("사용법: tunewiz run [-h] [--set SECTION.KEY=VALUE]") and "usage:" not in r.stdout
    assert "위치 인자:" in lines and "옵션:" in lines and "options:" not in lines
    assert "  -h, --help            이 도움말을 보여 주고 끝냅니다" in lines
    en = tunewiz(env, "run", "--help", cwd=tmp, lang="en")  # English stays argparse's words
    assert en.stdout.startswith("usage: tunewiz run") and "\noptions:\n" in en.stdout
    r = tunewiz(env, "--help", cwd=tmp)
    assert "터미널에서 Hugging Face 모델을 파인튜닝합니다." in r.stdout and "프리셋으로 학습합니다" in r.stdout
    for verb in ("smoke", "eval", "chat", "export"):  # help texts wrap by terminal cells: 80 columns hold them
        r = tunewiz(env, verb, "--help", cwd=tmp)
        assert r.returncode == 0 and max(fmt.cells(line) for line in r.stdout.splitlines()) <= 80, r.stdout


def test_progress_and_event_lines_in_korean_and_the_log_stays_english(korean, tmp_path):
    ev = {"type": "log", "step": 2, "max_steps": 10, "loss": 1.5, "learning_rate": 1e-4, "grad_norm": 0.5, "epoch": 0.25,
          "time": 110.0}
    assert launch.progress_line(ev, 100.0, 0) == ("스텝 2/10 | 손실 1.5000 | 학습률 1.00e-04 | grad 0.500 | 에폭 0.25 | "
                                                  "5.00초/스텝, 남은 시간 0분 40초")
    assert launch.event_line({"type": "start", "train_rows": 58, "trainable_params": 4884480, "device": "cpu"}) == \
        "학습: 58행, 학습 가능한 파라미터 4,884,480개, 장치 cpu"
    assert launch.event_line({"type": "save", "checkpoint": "checkpoint-2"}) == "checkpoint-2 저장함"
    assert launch.event_line({"type": "held_out", "rows": 6, "metric": "rougeL", "tuned": 0.5, "base": 0.25}) == \
        "평가용 행 (6개): rougeL 학습 모델 0.5000, 기본 모델 0.2500 (eval.json. 모든 지표: tunewiz eval)"
    # an incomplete checkpoint set aside: the event and the run's log keep English, the terminal reads Korean
    run = tmp_path / "run"
    cp = run / "checkpoint-6"
    cp.mkdir(parents=True)
    ok = run / "checkpoint-4"
    ok.mkdir()
    notes = launch.set_aside_partial(run, ok, [(cp, "no trainer_state.json (killed while it was being written)")])
    assert "skipped checkpoint-6: incomplete, no trainer_state.json" in (run / rundir.STDOUT).read_text()
    assert notes[0]["problem"] == "no trainer_state.json (killed while it was being written)"
    assert launch.event_line({"type": "set_aside", **notes[0]}).startswith(
        "checkpoint-6 건너뜀: 불완전함 (trainer_state.json 없음 (쓰는 도중에 종료됨)). ")


def test_causes_kept_in_english_are_shown_translated(korean, tmp_path):
    assert runs.cause_text(runs.GONE) == "학습 프로세스가 종료 기록 없이 사라졌습니다 (강제 종료, 메모리 부족, 또는 머신 재시작)"
    disk = rundir.disk_full_message(tmp_path, english=True)
    assert disk.startswith("disk full at ")
    text = runs.cause_text(runs.EXITED_DISK.format(code=1, disk=disk))
    assert text.startswith("학습 프로세스가 종료 기록 없이 끝났습니다 (종료 코드 1). ") and "의 디스크가 가득 찼습니다 (남은 공간 " in text
    gone = runs.PROCESS_GONE.format(why="pid 42 is now another process (sleep 300)")
    assert runs.cause_text(gone) == "실행의 프로세스가 사라졌습니다 (pid 42: 이제 다른 프로세스입니다 (sleep 300))"
    assert runs.cause_text("CUDA out of memory. Tried to allocate 2 GiB") == "CUDA out of memory. Tried to allocate 2 GiB"
    assert runs.state_text("unknown") == "미확인" and runs.state_text("running") == "실행 중" and runs.state_text("odd") == "odd"
    assert rundir.disk_full_message(tmp_path).startswith(f"{tmp_path.resolve()}의 디스크가 가득 찼습니다")


def test_cells_pad_and_cut_by_terminal_width():
    assert fmt.cells("abc") == 3 and fmt.cells("한국어") == 6 and fmt.cells("e\u0301") == 1
    assert fmt.ljust("한국", 6) == "한국  " and fmt.rjust("한", 4) == "  한" and fmt.ljust("abc", 2) == "abc"
    assert fmt.clip("abcdef", 4) == "abc…" and fmt.clip("한국어이름", 6) == "한국…" and fmt.clip("한국", 4) == "한국"
    assert fmt.wrap("a b c", 80, "  ") == "  a b c"
    wrapped = fmt.wrap("원인: " + "가나다 " * 30, 40, "  ", "    ")
    assert all(fmt.cells(line) <= 40 for line in wrapped.splitlines()) and wrapped.startswith("  원인: 가나다")
    assert all(line.startswith("    ") for line in wrapped.splitlines()[1:])


@pytest.mark.slow
def test_a_foreground_run_prints_its_lines_in_korean(home):
    tmp, env = home
    run = tmp / "runs" / "ko"
    r = tunewiz(env, "run", str(PRESETS / "smollm2-identity-lora.yaml"), "--set", "training.max_steps=1",
                "--set", f"training.output_dir={run}", "--set", "training.eval_strategy=no", cwd=tmp, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "프리셋을 점검하는 중..."
    assert any(line.startswith("시작했습니다. pid ") and f"실행 폴더 {run} (로그: {run}/stdout.log)" in line for line in lines)
    assert any(line.startswith("학습: ") and "학습 가능한 파라미터" in line for line in lines)
    assert any(line.startswith("스텝 1/1 | 손실 ") for line in lines)
    assert lines[-1] == f"완료: {run}/final"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "end" and events[-1]["state"] == "finished"  # the files keep their English keys


def test_rm_asks_in_korean_on_a_terminal(home):
    """The confirmation is a prompt on a real terminal (a pty): 'n' deletes nothing, '예' deletes."""
    import pty
    import select

    tmp, env = home
    run = make_run(tmp / "runs" / "asked", "finished", registry=Path(env["TUNEWIZ_REGISTRY"]))

    def answer(reply: str) -> tuple[int, str]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: tunewiz on the terminal
            os.chdir(tmp)
            os.execve(sys.executable, [sys.executable, "-m", "engine.cli", "--lang", "ko", "rm", "asked"], env)
        out = b""
        while b"[y/N]" not in out:
            ready, _w, _x = select.select([fd], [], [], 60)
            assert ready, out
            out += os.read(fd, 4096)
        os.write(fd, reply.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return os.waitpid(pid, 0)[1] >> 8, out.decode()

    rc, out = answer("n")
    assert f"{run.resolve()} 폴더와 그 안의 파일을 삭제할까요? [y/N] " in out and "아무것도 삭제하지 않았습니다" in out
    assert rc == 1 and run.exists()
    rc, out = answer("예")
    assert rc == 0 and f"{run.resolve()} 삭제함" in out and not run.exists()
