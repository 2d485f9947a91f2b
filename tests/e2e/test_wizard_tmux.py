"""The wizard in a real terminal (tmux), keys only: load a preset, walk every step, save a preset, launch,
lose the terminal, and find the run finished with `tunewiz attach`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import config, rundir

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]
TUNEWIZ = str(Path(sys.executable).with_name("tunewiz"))
QUICK = """\
# SmolLM2 identity, two steps (the tmux end-to-end test).
# Hardware: any CPU.
# Command: tunewiz run mine/quick.yaml
version: 1
model:
  name_or_path: demo:smollm2-135m-instruct
dataset:
  path: sample:identity
  eval_size: 0
training:
  output_dir: runs/quick
  max_steps: 2
  logging_steps: 1
  save_strategy: "no"
  per_device_train_batch_size: 4
"""


class Terminal:
    """A tmux session running one command, driven by keys and read from the screen."""

    def __init__(self, name: str, command: str, cwd: Path, env: dict[str, str]):
        self.name = name
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "30",
                        f"cd {cwd} && env {exports} {command}; sleep 600"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        for k in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, k], check=True)
            time.sleep(0.2)

    def type(self, text: str) -> None:
        for ch in text:  # one key at a time, as a person types
            subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", ch], check=True)
            time.sleep(0.05)

    def wait(self, text: str, timeout: float = 60) -> str:
        t0 = time.time()
        while time.time() - t0 < timeout:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def wizard_home(tmp_path, name: str, preset: str):
    """A folder with your preset `mine/NAME.yaml` and the wizard's environment; yields (folder, env, terminals) and
    afterwards closes the terminals and kills the run runs/NAME if it is still going."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / f"{name}.yaml").write_text(preset)
    env = {"HF_HUB_OFFLINE": "1", "TUNEWIZ_PRESETS": str(tmp_path / "mine"),
           "TUNEWIZ_REGISTRY": os.environ["TUNEWIZ_REGISTRY"], "TERM": "xterm-256color"}
    terms: list[Terminal] = []
    yield tmp_path, env, terms
    for t in terms:
        t.kill()
    st = rundir.read_status(tmp_path / "runs" / name)
    if rundir.pid_alive(st.get("pid")):
        os.killpg(st["pgid"], 9)


@pytest.fixture
def here(tmp_path):
    yield from wizard_home(tmp_path, "quick", QUICK)


def test_walk_every_step_save_launch_lose_the_terminal_and_attach(here):
    cwd, env, terms = here
    wiz = Terminal(f"tw-wizard-{os.getpid()}", TUNEWIZ, cwd, env)
    terms.append(wiz)
    wiz.wait("1 Model", 30)
    wiz.keys("C-o")
    wiz.wait("Load a preset")
    wiz.keys("End", "Enter")  # the user's own preset is listed last
    wiz.wait("Loaded quick.yaml")
    wiz.wait("LlamaForCausalLM", 90)
    wiz.keys("C-n")
    wiz.wait("64 rows")
    wiz.wait("Format messages")
    wiz.keys("C-n")
    wiz.wait("Example 1 of 64", 120)
    wiz.keys("C-n")
    screen = wiz.wait("Effective batch")
    assert "2 steps in total" in screen
    wiz.keys("C-n")
    wiz.wait("Trainable: 4,884,480")
    wiz.keys("C-n")
    wiz.wait("YAML  Command")
    wiz.keys("C-s")
    wiz.wait("writes mine/")  # the dialog is up and its name field focused
    wiz.keys("C-u")
    wiz.wait("name: is empty")
    wiz.type("e2e-saved")
    wiz.wait("e2e-saved")
    wiz.keys("Enter")
    saved = cwd / "mine" / "e2e-saved.yaml"
    for _ in range(50):
        if saved.exists():
            break
        time.sleep(0.2)
    # the copy is the loaded preset, its run named after the copy (#14: output_dir runs/quick -> runs/e2e-saved)
    copied, original = config.to_dict(config.load(saved)), config.to_dict(config.load(cwd / "mine" / "quick.yaml"))
    assert copied["training"].pop("output_dir") == "runs/e2e-saved" and original["training"].pop("output_dir") == "runs/quick"
    assert copied == original
    wiz.keys("C-r")
    wiz.wait("$ ", 120)  # the monitor, showing the launcher command
    run = cwd / "runs" / "e2e-saved"
    assert rundir.read_status(run)["state"] in ("starting", "running", "finished")
    wiz.kill()  # the SSH link drops: the terminal and the wizard are gone
    t0 = time.time()
    while rundir.read_status(run).get("state") not in ("finished", "failed") and time.time() - t0 < 300:
        time.sleep(1)
    assert rundir.read_status(run)["state"] == "finished", (run / "stdout.log").read_text()[-3000:]
    assert (run / "final" / "adapter_model.safetensors").is_file()
    mon = Terminal(f"tw-attach-{os.getpid()}", f"{TUNEWIZ} attach e2e-saved", cwd.parent, env)  # by name, from elsewhere
    terms.append(mon)
    screen = mon.wait("finished", 60)
    assert "step 2/2" in screen and "e2e-saved" in screen
    mon.keys("q")
