"""The engine never imports the UI; the CLI starts without the heavy libraries; the layers and the type hints hold
(import-linter's contracts and mypy, both configured in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    import json

    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_engine_never_imports_textual():
    mods = imported_after("import pkgutil, importlib, engine\n"
                          "[importlib.import_module(m.name) for m in pkgutil.walk_packages(engine.__path__, 'engine.')]")
    assert "engine.train" in mods and "engine.callbacks" in mods
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)


def test_cli_and_config_import_no_heavy_library():
    # tui.cli is the `tunewiz` console script: `tunewiz run ...` starts without Textual, which loads with a screen
    mods = imported_after("import engine.cli, engine.config, engine.fields, engine.rundir, engine.launch, tui.cli")
    for heavy in ("torch", "transformers", "trl", "peft", "datasets", "textual"):
        assert heavy not in mods, heavy


def test_wizard_imports_no_heavy_library():
    # The wizard must open at once: torch and friends are imported by workers, when a step needs them.
    mods = imported_after("import pkgutil, importlib, tui\n"
                          "[importlib.import_module(m.name) for m in pkgutil.walk_packages(tui.__path__, 'tui.')]\n"
                          "import engine.cli")
    assert "tui.app" in mods and "textual" in mods
    for heavy in ("torch", "transformers", "trl", "peft", "datasets"):
        assert heavy not in mods, heavy


def test_import_contracts_hold():
    """The layers of pyproject.toml's [tool.importlinter]: every import counts, those inside functions included
    (the subprocess tests above only see what importing a module runs)."""
    r = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_engine_type_checks():
    """mypy on engine/ ([tool.mypy] in pyproject.toml)."""
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
