"""engine.config imports its pydantic models (engine.schema, defined at module level) on first use: importing it
(every command, the wizard's first screen) costs no pydantic; config.Config and the sections are schema's classes."""

import pickle
import subprocess
import sys

from engine import config


def test_import_needs_neither_pydantic_nor_yaml():
    code = "import sys, engine.config; print(','.join(m for m in ('pydantic', 'yaml') if m in sys.modules) or '-')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "-"


def test_models_are_schemas_classes_defined_at_module_level():
    from engine import schema
    from engine.config import Config, ModelSection, SpeedSection

    for cls in (config.Section, ModelSection, config.DatasetSection, config.LaunchSection, SpeedSection, Config):
        assert cls.__module__ == "engine.schema" and cls.__qualname__ == cls.__name__
        assert getattr(config, cls.__name__) is cls is getattr(schema, cls.__name__)
    assert schema.SECTION_MODELS["speed"] is SpeedSection
    # attribute docstrings are the help texts
    assert ModelSection.model_fields["trust_remote_code"].description.startswith("Run Python code shipped")
    assert SpeedSection.model_fields["split_batch"].description.startswith("Re-split the effective batch")
    assert Config.model_fields["speed"].description == "tunewiz's fast defaults for the hardware (each one can be turned off)."
    assert Config.__doc__ == "A whole preset."
    cfg = config.load(None)
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_unknown_attribute_is_still_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        config.NoSuchThing  # noqa: B018
