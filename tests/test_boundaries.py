"""The engine never imports the UI; the CLI starts without the heavy libraries."""

import subprocess
import sys


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
    mods = imported_after("import engine.cli, engine.config, engine.fields, engine.rundir, engine.launch")
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
