"""The preset file: one typed config model, loaded from YAML, overridden by `--set`, validated.

Sections mirror the wizard's screens: `model`, `dataset`, `lora`, `training`. Keys inside `training:`
and `lora:` are the field names of `trl.SFTConfig` / `transformers.TrainingArguments` and
`peft.LoraConfig`, checked against `fields.json` (see engine/fields.py). Validators raise; they never
rewrite what the user wrote. Precedence: `--set section.key=value` > preset file > defaults.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import fieldhelp, fields, i18n
from engine.defaults import DEFAULT_DATASET as DEFAULT_DATASET  # the preset's names, read as config.X too
from engine.defaults import DEFAULT_MODEL as DEFAULT_MODEL
from engine.defaults import FORMATS as FORMATS
from engine.defaults import METHODS, SCHEMA_VERSION
from engine.defaults import TASKS as TASKS
from engine.errors import Problem, TunewizError, did_you_mean
from engine.i18n import N_, _

if TYPE_CHECKING:
    from pydantic import ValidationError

    from engine.schema import Config as Config  # at run time: module __getattr__ below
    from engine.schema import DatasetSection as DatasetSection
    from engine.schema import EvaluateSection as EvaluateSection
    from engine.schema import LaunchSection as LaunchSection
    from engine.schema import ModelSection as ModelSection
    from engine.schema import Section as Section
    from engine.schema import SpeedSection as SpeedSection

# SFTConfig fields that also make sense for classification (tunewiz tokenizes with them).
SHARED_SFT_KEYS = {"max_length"}


# The typed sections are pydantic models in engine.schema, imported on first use rather than here: importing pydantic
# and building them costs ~0.1 s, and `import engine.config` is on the path of every command and of the wizard's
# first screen. `config.Config`, `from engine.config import ModelSection`, ... import it (module __getattr__ below).
_MODEL_NAMES = ("Section", "ModelSection", "DatasetSection", "LaunchSection", "SpeedSection", "EvaluateSection", "Config")


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        from engine import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


LORA_DEFAULTS: dict[str, Any] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
SECTIONS = {"version", "model", "dataset", "lora", "training", "launch", "speed", "evaluate"}
# keys of `lora:` that are tunewiz's, not peft.LoraConfig fields: enabled, and get_peft_model's adapter dtype switch
LORA_OWN_KEYS = {"enabled": "false = full fine-tuning",
                 "autocast_adapter_dtype": "true = adapters in float32 (peft's default); false = in the model's dtype (bf16: faster)"}


# ---------------------------------------------------------------------------------------------- loading
def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a preset file; syntax errors name the line."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise TunewizError.at(str(p), _("no such preset file"),
                              _("check the path, or give a preset's name: `tunewiz presets` lists the shipped ones and yours"))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        from engine.data.tabular import encoding_problem

        raise encoding_problem(p) or TunewizError.at(str(p), _("not UTF-8 text"), _("save the preset as UTF-8")) from None
    empty = TunewizError.at(str(p), _("the preset is empty (it holds only comments)") if text.strip() else _("the preset is empty"),
                            _("write its sections (model:, dataset:, training:), e.g. copy presets/smollm2-identity-lora.yaml; "
                              "`tunewiz` without a preset opens the demo"))
    if not text.strip():  # an empty file would train the demo model on the sample data: never what a preset meant
        raise empty
    try:
        data = yaml.safe_load(text)
        _check_duplicate_keys(p, yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        ctx = getattr(e, "context_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        what = _("not valid YAML ({problem})").format(problem=getattr(e, "problem", e))
        if ctx is not None and mark is not None and ctx.line != mark.line:
            # an unclosed quote or bracket is reported where the file ends: name where it opened too
            where = f"{p}:{ctx.line + 1}"
            what = _("not valid YAML ({context}: {problem} at line {line})").format(
                context=getattr(e, "context", ""), problem=getattr(e, "problem", e), line=mark.line + 1)
        problem = str(getattr(e, "problem", "") or "")
        if "'\\t'" in problem or "\t" in problem:  # a tab in the indentation: YAML indents with spaces only
            fix = _("indent with spaces: YAML does not allow tabs (your editor may insert them)")
        elif "could not find expected ':'" in problem or "mapping values are not allowed" in problem:
            fix = _("each setting is `key: value` (a colon and a space after the key): check this line and the one above "
                    "it; a value that holds ': ' needs quotes")
        else:
            fix = _("fix the YAML syntax (an unclosed quote or bracket?)")
        raise TunewizError.at(where, what, fix) from e
    if data is None:
        raise empty
    if not isinstance(data, dict):
        raise TunewizError.at(str(p), _("a preset must be a mapping of sections (model:, dataset:, ...)"))
    return data


def _check_duplicate_keys(p: Path, node: Any, path: str = "") -> None:
    """A key written twice in one mapping: YAML keeps the last one silently, so one of the two settings is lost."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(p, item, f"{path}[{i}]")
        return
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    problems = []
    for key, value in node.value:
        name = str(key.value)
        line = key.start_mark.line + 1
        full = f"{path}.{name}" if path else name
        if name in seen and key.tag != "tag:yaml.org,2002:merge":
            problems.append(Problem(f"{p}:{line}", _("{key} is given twice (lines {first} and {line}); YAML would keep the last "
                                                     "one silently").format(key=full, first=seen[name], line=line),
                                    _("keep one of the two lines ({first} or {line})").format(first=seen[name], line=line)))
        seen.setdefault(name, line)
        try:
            _check_duplicate_keys(p, value, full)
        except TunewizError as e:
            problems += e.problems
    if problems:
        raise TunewizError(problems)


def parse_set(items: list[str]) -> list[tuple[list[str], Any]]:
    """`section.key=value` strings -> (path, value); values parse as YAML scalars (1e-4, true, [a, b])."""
    import yaml

    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TunewizError.at(f"--set {item}", _("expected section.key=value"), _("e.g. --set training.learning_rate=1e-4"))
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        out.append((key.strip().split("."), value))
    return out


def apply_overrides(data: dict[str, Any], overrides: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """Apply --set overrides on top of the raw preset mapping."""
    for path, value in overrides:
        node = data
        for part in path[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[path[-1]] = value
    return data


def load(path: str | Path | None = None, overrides: list[str] | None = None, source: str | None = None) -> Config:
    """Preset file (or defaults) + overrides -> validated Config; raises TunewizError listing every problem."""
    data = read_yaml(path) if path else {}
    sets = parse_set(overrides or [])
    data = apply_overrides(data, sets)
    source = source or (str(path) if path else "preset")
    try:
        return from_dict(data, source=source)
    except TunewizError as e:
        # a bad value given on the command line is reported as the --set that gave it
        given = [".".join(p) for p, _ in sets]

        def from_set(where: str) -> str | None:  # the --set key a problem's place comes from (a key or its section)
            key = where.removeprefix(source + ": ")
            return next((g for g in given if g == key or g.startswith(key + ".")), None)

        raise TunewizError(Problem(f"--set {from_set(p.where)}", p.what, p.fix) if from_set(p.where) else p
                           for p in e.problems) from None


def from_dict(data: dict[str, Any], source: str = "preset") -> Config:
    """Validate a raw mapping (as read from YAML) into a Config."""
    from pydantic import ValidationError

    from engine import schema

    problems = list(_check_sections(data, source))
    raw_training = data.get("training") or {}
    raw_lora = data.get("lora")
    if raw_lora is None:
        raw_lora = {"enabled": False} if "lora" in data else {}
    if raw_lora is False:
        raw_lora = {"enabled": False}
    # a section that is not a mapping is reported once, above (pydantic would add its own words and class name)
    base = {k: v for k, v in data.items() if k in ("version", "model", "dataset", "launch", "speed", "evaluate")
            and (k == "version" or v is None or isinstance(v, dict))}
    cfg = None
    try:
        cfg = schema.Config.model_validate(base)
    except ValidationError as e:
        problems.extend(_pydantic_problems(e, source))
    model = data.get("model")  # not a mapping (model: foo) is a problem of its own, reported above
    task = cfg.model.task if cfg else model.get("task", "causal-lm") if isinstance(model, dict) else "causal-lm"
    method = cfg.model.method if cfg else model.get("method", "sft") if isinstance(model, dict) else "sft"
    if method not in METHODS:
        method = "sft"  # reported by the model section's check
    if cfg is not None and method != "sft" and task != "causal-lm":
        problems.append(Problem(f"{source}: model.method",
                                _("{method} trains a causal language model, and model.task is {task}").format(method=method, task=task),
                                _("set model.method: sft for a classifier, or model.task: causal-lm with a language model")))
    training, tp = check_library_section("training", raw_training, source, task=task, method=method)
    if method == "kto" and training.get("per_device_train_batch_size") == 1 and training.get("loss_type") != "apo_zero_unpaired":
        tp.append(Problem(f"{source}: training.per_device_train_batch_size", _("1: KTO estimates its KL term from the other "
                          "answers of a micro-batch, so it needs at least 2 (TRL refuses 1)"),
                          _("set per_device_train_batch_size: 2 or more (gradient_accumulation_steps keeps the effective batch)")))
    lora, lp = check_library_section("lora", raw_lora, source)
    problems += tp + lp
    if cfg is not None and cfg.version != SCHEMA_VERSION:
        problems.append(Problem(f"{source}: version", _("schema version {version} is not supported").format(version=cfg.version),
                                _("use version: {version}").format(version=SCHEMA_VERSION)))
    if problems:
        # `training: 5` is not a mapping for the section check and for the library check: say it once
        seen: set[tuple[str, str]] = set()
        raise TunewizError(q for q in problems if not ((q.where, q.what) in seen or seen.add((q.where, q.what))))
    assert cfg is not None
    cfg.training = training
    cfg.lora = {"enabled": True, **LORA_DEFAULTS, **lora} if lora.get("enabled", True) else {"enabled": False, **lora}
    return cfg


def _check_sections(data: dict[str, Any], source: str):
    for key in data:
        if key not in SECTIONS:
            hint = did_you_mean(key, SECTIONS)
            yield Problem(f"{source}: {key}", _("unknown section; {hint}").format(hint=hint) if hint else _("unknown section"),
                          _("sections are {sections}").format(sections=", ".join(sorted(SECTIONS))))
    for key in ("model", "dataset", "training", "launch", "speed", "evaluate"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            named = {"model": "name_or_path", "dataset": "path"}.get(key)  # `model: foo` meant the model's name
            if named and isinstance(data[key], str | int | float):
                example = f"{key}:\n  {named}: {data[key]}"
                yield Problem(f"{source}: {key}", _("must be a mapping of keys"), _("write it as\n{example}").format(example=example))
            else:
                yield Problem(f"{source}: {key}", _("must be a mapping of keys"), _("write it as\n{key}:\n  key: value").format(key=key))


def _pydantic_problems(err: ValidationError, source: str):
    from engine import schema

    for e in err.errors():
        loc = [str(x) for x in e["loc"]]
        where = f"{source}: {'.'.join(loc)}"
        if e["type"] == "extra_forbidden" and len(loc) == 2 and loc[0] in schema.SECTION_MODELS:
            valid = schema.SECTION_MODELS[loc[0]].model_fields
            hint = did_you_mean(loc[1], valid)
            yield Problem(where, _("unknown key; {hint}").format(hint=hint) if hint else _("unknown key"),
                          _("valid keys: {keys}").format(keys=", ".join(valid)))
        elif e["type"] == "literal_error":
            yield Problem(where, _("{value!r} is not allowed").format(value=e["input"]),
                          _("use one of {choices}").format(choices=e["ctx"]["expected"]))
        else:
            yield Problem(where, _("{message} (got {value!r})").format(message=_pydantic_message(e), value=e.get("input")),
                          _field_doc(loc))


# pydantic's own messages for the errors a preset's typed sections give (the English word for word as pydantic writes
# it, with its context values as fields), so that they are said in the user's language too; another error keeps
# pydantic's English. "Value error" carries the message of one of our validators (N_ above).
PYDANTIC_MESSAGES = {
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_type": N_("Input should be a valid integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "float_type": N_("Input should be a valid number"),
    "finite_number": N_("Input should be a finite number"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "bool_type": N_("Input should be a valid boolean"),
    "string_type": N_("Input should be a valid string"),
    "dict_type": N_("Input should be a valid dictionary"),
    "list_type": N_("Input should be a valid list"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "value_error": N_("Value error, {error}"),
}


def _pydantic_message(e: Any) -> str:
    """pydantic's message of one error, translated where PYDANTIC_MESSAGES has it (English: pydantic's text as it is)."""
    template = PYDANTIC_MESSAGES.get(e["type"])
    ctx = {k: str(v) for k, v in (e.get("ctx") or {}).items()}
    try:
        if template is None or template.format(**ctx) != e["msg"]:
            return str(e["msg"])
        return _(template).format(**{k: _(v) if k == "error" else v for k, v in ctx.items()})
    except (KeyError, IndexError, ValueError):
        return str(e["msg"])


def _field_doc(loc: list[str]) -> str:
    """The fix line of a typed section's field: its docstring (English documentation); in another language,
    tunewiz's newcomer help on the field where it has one (engine.fieldhelp, translated)."""
    from engine import schema

    if i18n.language() != "en" and len(loc) == 2 and fieldhelp.source(".".join(loc)):
        return fieldhelp.text(".".join(loc))
    if len(loc) == 2 and loc[0] in schema.SECTION_MODELS:
        f = schema.SECTION_MODELS[loc[0]].model_fields.get(loc[1])
        if f and f.description:
            return f.description
    return ""


# ----------------------------------------------------------------------------------- library sections
def check_library_section(section: str, raw: Any, source: str, task: str = "causal-lm",
                          method: str = "sft") -> tuple[dict, list[Problem]]:
    """Check keys and value kinds of `training:` / `lora:` against the library fields (of the method's trl config);
    coerce numbers."""
    if not isinstance(raw, dict):
        return {}, [Problem(f"{source}: {section}", _("must be a mapping of keys"))]
    table = fields.section_of(section, method)
    specs = fields.fields(table)
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        where = f"{source}: {section}.{key}"
        if section == "lora" and key in LORA_OWN_KEYS:
            if not isinstance(value, bool):
                problems.append(Problem(where, _("{value!r} is not true/false").format(value=value)))
            out[key] = value
            continue
        if section == "training" and key in fields.RENAMED and key not in specs:
            why = fields.RENAMED[key][1]
            problems.append(Problem(where, _("this argument is from an older release: {why}").format(why=_(why)),
                                    fields.renamed_fix(key, section)))
            continue
        if section == "training" and key in fields.SECRETS:
            problems.append(Problem(where, *(_(text) for text in fields.SECRETS[key])))
            continue
        if section == "training" and key in fields.RESERVED and (method == "sft" or key in fields.RESERVED_ALL):
            problems.append(Problem(where, _(fields.RESERVED[key][0]), fields.reserved_fix(key, value)))
            continue
        if section == "training" and key in fields.SEQ2SEQ and key not in specs:
            problems.append(Problem(where, fields.seq2seq_note(key), _("remove it")))
            continue
        spec = specs.get(key)
        if spec is None:
            if key in fields.installed_field_names(table):
                out[key] = value  # newer than the snapshot: the library checks it
                continue
            alias = fields.ALIASES.get(section, {}).get(key.lower())
            hint = (_("did you mean {name}?").format(name=alias) if alias else
                    did_you_mean(key, list(specs) + (list(LORA_OWN_KEYS) if section == "lora" else [])))
            lib = f"trl.{fields.CONFIG_NAMES[method]} / transformers.TrainingArguments" if section == "training" else "peft.LoraConfig"
            other = fields.methods_with(key) if section == "training" else []
            if other:
                hint = _("{key} is a {configs} option, and model.method is {method}").format(
                    key=key, configs=" / ".join(fields.CONFIG_NAMES[m] for m in other), method=method)
                pick = next((m for m in other if m != "sft"), other[0]) if method == "sft" else other[0]
                fix = _("remove it ({config} has no {key}), or set model.method: {method}").format(
                    config=fields.CONFIG_NAMES[method], key=key, method=pick)
            else:
                fix = _("keys here are {library} field names").format(library=lib)
            problems.append(Problem(where, _("unknown key; {hint}").format(hint=hint) if hint else _("unknown key"), fix))
            continue
        if section == "training" and task != "causal-lm" and spec.get("source") != "TrainingArguments" and key not in SHARED_SFT_KEYS:
            problems.append(Problem(where, _("{key} is an SFT option and does not apply to {task}").format(key=key, task=task),
                                    _("remove it")))
            continue
        try:
            out[key] = coerce(value, spec)
            if (section, key) in NAMES_OR_LISTS:
                _names_or_list(value, *NAMES_OR_LISTS[section, key])
        except ValueError as e:
            fix = spec.get("help", "")[:200]
            if spec["kind"] in ("int", "float"):
                fix = (_(_RANGE_FIX[key]) if _RANGE_FIX.get(key) else
                       _("write a number (the default is {default})").format(default=spec.get("default")))
            elif spec["kind"] == "bool":
                fix = _("write true or false")
            elif spec.get("choices"):
                choices = ", ".join(spec["choices"])
                fix = (_("write one of: {choices} (the default is {default})").format(choices=choices, default=spec["default"])
                       if spec.get("default") is not None else _("write one of: {choices}").format(choices=choices))
            elif (section, key) in NAMES_OR_LISTS:
                fix = _(NAMES_OR_LISTS[section, key][1])
            problems.append(Problem(where, str(e), fix))
    problems += [Problem(f"{source}: {section}.{k}", msg, fix) for k, msg, fix in _range_checks(section, out)]
    return out, problems


# Keys whose value is a name or a list of names (the libraries take `any` there and fail on a number after loading
# the model): (what one name is, the fix).
NAMES_OR_LISTS = {
    ("lora", "target_modules"): (N_("layer name"), N_("e.g. all-linear, or a list of layer names: [q_proj, v_proj]")),
    ("lora", "exclude_modules"): (N_("layer name"), N_("e.g. a list of layer names: [lm_head]")),
    ("lora", "modules_to_save"): (N_("layer name"), N_("e.g. a list of layer names: [score]")),
    ("training", "report_to"): (N_("logger name"), N_("e.g. none, tensorboard, or a list: [wandb, tensorboard]")),
    ("training", "optim_target_modules"): (N_("layer name"), N_("e.g. a list of layer names: [attn, mlp]")),
}


def _names_or_list(value: Any, what: str, _fix: str) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    bad = next((v for v in value if not isinstance(v, str)), value) if isinstance(value, list) else value
    if bad is not value:
        raise ValueError(_("{value!r} is not a {what} or a list of them ({bad!r} is not a name)").format(value=value, what=_(what),
                                                                                                          bad=bad))
    raise ValueError(_("{value!r} is not a {what} or a list of them").format(value=value, what=_(what)))


INT_LIMIT = 2**63 - 1  # what the libraries and torch count steps and sizes in


def coerce(value: Any, spec: dict[str, Any]) -> Any:
    """Check a value against a field kind; numbers written as strings (YAML's 2e-4) become numbers."""
    kind = spec["kind"]
    if value is None:
        if spec.get("optional") or spec.get("default") is None:
            return None
        raise ValueError(_("may not be null"))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(_("{value!r} is not true/false").format(value=value))
    if kind in ("int", "float"):
        if isinstance(value, str):
            try:
                # a whole number stays one (eval_steps: 5, not 5.0); a float field takes it as it is
                value = int(value) if re.fullmatch(r"\s*[+-]?\d+\s*", value) else float(value)
            except ValueError:
                raise ValueError(_("{value!r} is not a number").format(value=value)) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(_("{value!r} is not a number").format(value=value))
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(_("{value!r} is not a finite number").format(value=value))
        if kind == "int":
            if abs(value) > INT_LIMIT:
                raise ValueError(_("{value!r} is too large (a count here is at most {limit:.2e})").format(value=value, limit=INT_LIMIT))
            if float(value) != int(value):
                raise ValueError(_("{value!r} is not a whole number").format(value=value))
            return int(value)
        return value
    if kind == "choice":
        if isinstance(value, bool):  # YAML 1.1 reads a bare `no` (eval_strategy: no) as false
            value = {False: "no", True: "yes"}[value]
        if str(value) not in spec["choices"]:
            raise ValueError(_not_one_of(value, spec["choices"]))
        return str(value)
    if kind == "str" and not isinstance(value, str):
        return str(value)
    if kind == "list" and spec.get("one_or_list") and isinstance(value, str | list):
        # DPOConfig.loss_type: one name, or a list of them combined (the library makes the list)
        for name in [value] if isinstance(value, str) else value:
            if spec.get("choices") and name not in spec["choices"]:
                raise ValueError(_not_one_of(name, spec["choices"]))
        return value
    if kind == "list" and not isinstance(value, list):
        raise ValueError(_("{value!r} is not a list").format(value=value))
    if kind == "dict" and not isinstance(value, dict):
        raise ValueError(_("{value!r} is not a mapping").format(value=value))
    return value


def _not_one_of(value: Any, choices: list[str]) -> str:
    """A value outside a field's choices, with the closest choice when one is close."""
    hint = did_you_mean(str(value), choices)
    if hint:
        return _("{value!r} is not one of {choices} ({hint})").format(value=value, choices=", ".join(choices), hint=hint)
    return _("{value!r} is not one of {choices}").format(value=value, choices=", ".join(choices))


_POSITIVE = {"learning_rate", "num_train_epochs", "per_device_train_batch_size", "per_device_eval_batch_size",
             "gradient_accumulation_steps", "logging_steps", "r", "lora_alpha"}
_NON_NEGATIVE = {"warmup_steps", "weight_decay", "max_grad_norm", "save_total_limit", "eval_steps", "save_steps"}


def _range_checks(section: str, values: dict[str, Any]):
    for key, v in values.items():
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        if key in _POSITIVE and v <= 0:
            yield key, _("must be greater than 0 (got {value})").format(value=v), _(_RANGE_FIX.get(key, N_("use a number above 0")))
        elif key in _NON_NEGATIVE and v < 0:
            yield key, _("must not be negative (got {value})").format(value=v), _(_RANGE_FIX.get(key, N_("use 0 or more")))
    if section == "training":
        if "output_dir" in values and not str(values["output_dir"] or "").strip():
            yield "output_dir", _("is empty"), _("give a folder, e.g. runs/my-run, or leave the key out for runs/<preset>-<time>")
        ms = values.get("max_steps")
        if isinstance(ms, int) and ms == 0 or isinstance(ms, int) and ms < -1:
            yield "max_steps", _("must be a positive step count, or -1 to train num_train_epochs (got {value})").format(value=ms), ""
        ml = values.get("max_length")
        if isinstance(ml, int) and ml < 8:
            yield "max_length", _("{length} tokens is too short to train on").format(length=ml), _("use e.g. 512 or 1024")
    if section == "lora":
        d = values.get("lora_dropout")
        if isinstance(d, int | float) and not 0 <= d < 1:
            yield "lora_dropout", _("must be in [0, 1) (got {value})").format(value=d), _("0.0 (fastest) or 0.05")


_RANGE_FIX = {"learning_rate": N_("typical values: 2e-4 for LoRA, 2e-5 for full fine-tuning"),
              "max_steps": N_("a step count such as 1000, or -1 to train num_train_epochs"),
              "num_train_epochs": N_("e.g. 1 to 3 (fractions are allowed: 0.5 is half an epoch)"),
              "per_device_train_batch_size": N_("e.g. 8 (it must fit the GPU; the review's Memory tab tells)"),
              "per_device_eval_batch_size": N_("e.g. 8"),
              "gradient_accumulation_steps": N_("1 = no accumulation"),
              "r": N_("e.g. 16 (8-64 are common)"), "lora_alpha": N_("e.g. 2 x r (32 for r 16)")}


# ------------------------------------------------------------------------------------------- resolving
def default_output_dir(source: str) -> str:
    """runs/<preset name>-<timestamp>."""
    stem = Path(source).stem if source and source != "preset" else "run"
    return str(Path("runs") / f"{stem}-{datetime.now():%Y%m%d-%H%M%S}")


def to_dict(cfg: Config) -> dict[str, Any]:
    """The preset mapping, in section order; our own sections in full, so the file says everything."""
    out: dict[str, Any] = {"version": cfg.version}
    out["model"] = cfg.model.model_dump()
    out["dataset"] = cfg.dataset.model_dump()
    out["lora"] = dict(cfg.lora)
    out["training"] = dict(cfg.training)
    launch = cfg.launch.model_dump(exclude_defaults=True)
    if launch:
        out["launch"] = launch
    speed = cfg.speed.model_dump(exclude_defaults=True)
    if speed:
        out["speed"] = speed
    evaluate = cfg.evaluate.model_dump(exclude_defaults=True)
    if evaluate:
        out["evaluate"] = evaluate
    return out


def dump(cfg: Config, header: str = "") -> str:
    """YAML text of a preset (header lines become comments)."""
    import yaml

    body = yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True, width=110)
    head = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return head + body


def header_comment(path: str | Path) -> str:
    """The leading comment block of a preset file (what it trains, hardware, command)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return "\n".join(lines)
