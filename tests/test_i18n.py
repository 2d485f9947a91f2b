"""The message catalogs: every message the code marks has a Korean entry, the entries keep their {fields}, no
message is built in a way the catalog cannot hold (an f-string inside _()), and the language is picked as
documented (--lang, TUNEWIZ_LANG, the locale)."""

from __future__ import annotations

import ast
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from engine import i18n

ROOT = Path(__file__).resolve().parents[1]
CODE = ("engine", "tui")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
TRANSLATED = ("ko",)


def marked() -> dict[tuple[str | None, str], list[str]]:
    """(context, msgid) -> where in the code it is marked (file:line)."""
    out: dict[tuple[str | None, str], list[str]] = {}
    for top in CODE:
        for filename, lineno, message, _comments, context in extract_from_dir(ROOT / top, keywords=KEYWORDS):
            msgid = message[0] if isinstance(message, tuple) else message  # ngettext: the catalog keys by the singular
            if msgid:
                out.setdefault((context, msgid), []).append(f"{top}/{filename}:{lineno}")
    return out


def catalog(lang: str) -> dict[tuple[str | None, str], list[tuple[str, object]]]:
    """(context, msgid) -> [(file, msgstr)] over every .po file of the language."""
    out: dict[tuple[str | None, str], list[tuple[str, object]]] = {}
    for path in i18n.catalog_files(lang):
        with open(path, "rb") as f:
            for m in read_po(f, locale=lang):
                if not m.id:
                    continue
                key = (m.context, m.id[0] if isinstance(m.id, tuple) else m.id)
                out.setdefault(key, []).append((path.name, m.string))
    return out


def fields_of(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_marked_message_has_a_translation(lang):
    have = catalog(lang)
    missing = [f"{where[0]}: {msgid!r}" for (ctx, msgid), where in sorted(marked().items(), key=lambda kv: kv[1][0])
               if not any(s for _f, s in have.get((ctx, msgid), []))]
    assert not missing, f"{len(missing)} message(s) with no {lang} entry in engine/locale/{lang}/LC_MESSAGES:\n" + \
        "\n".join(missing[:40])


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_entry_is_left_over_from_a_message_the_code_no_longer_has(lang):
    code = marked()
    stale = [f"{files[0][0]}: {msgid!r}" for (ctx, msgid), files in catalog(lang).items() if (ctx, msgid) not in code]
    assert not stale, "entries for messages no longer in the code (remove them):\n" + "\n".join(stale[:40])


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_fields_and_files_agree(lang):
    bad = []
    for (_ctx, msgid), entries in catalog(lang).items():
        strings = {str(s) for _f, s in entries if s}
        if len(strings) > 1:
            bad.append(f"{msgid!r}: two files translate it differently")
        for s in strings:
            for form in (s if isinstance(s, tuple) else (s,)):
                try:
                    if fields_of(form) != fields_of(msgid):
                        bad.append(f"{msgid!r}: fields {sorted(fields_of(msgid))} vs {sorted(fields_of(form))}")
                except ValueError as e:
                    bad.append(f"{msgid!r}: {e}")
    assert not bad, "\n".join(bad)


def test_no_message_is_built_before_it_is_looked_up():
    """_(f"...") or _("a" + b) looks up a text the catalog cannot have: the message is always shown in English."""
    bad = []
    for top in CODE:
        for path in sorted((ROOT / top).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_", "ngettext"):
                    for arg in node.args[: 2 if node.func.id == "ngettext" else 1]:
                        if isinstance(arg, ast.JoinedStr | ast.BinOp) or (
                                node.func.id == "N_" and not isinstance(arg, ast.Constant)):
                            bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, "messages built before the lookup (use named fields: _('{n} rows').format(n=n)):\n" + "\n".join(bad)


def import_time_lookups(tree: ast.Module) -> list[int]:
    """Lines where _() runs at import (a module's or a class's body, outside functions): the text is fixed in the
    language of the moment the module was imported, and --lang set later (or a test in Korean) cannot change it."""
    lines: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext", "pgettext"):
            lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return lines


def test_no_message_is_translated_at_import_time():
    bad = [f"{path.relative_to(ROOT)}:{line}" for top in CODE for path in sorted((ROOT / top).rglob("*.py"))
           for line in import_time_lookups(ast.parse(path.read_text(), str(path)))]
    assert not bad, "mark constants with N_() and translate them where they are shown, _(CONST):\n" + "\n".join(bad)


def test_the_language_comes_from_the_flag_then_tunewiz_lang_then_the_locale(monkeypatch):
    for var in ("TUNEWIZ_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    assert i18n.resolve() == "en"
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert i18n.resolve() == "ko"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # gettext's order: LC_ALL before LANG
    assert i18n.resolve() == "en"
    monkeypatch.setenv("TUNEWIZ_LANG", "ko")
    assert i18n.resolve() == "ko"
    assert i18n.resolve("en") == "en"
    assert i18n.from_locale("de_DE.UTF-8") == "en" and i18n.from_locale("") is None


def test_korean_is_spoken_and_english_stays_the_fallback(monkeypatch):
    monkeypatch.setenv("TUNEWIZ_LANG", "en")
    try:
        i18n.set_language("ko")
        assert i18n._("use one of: {langs}") == "다음 중 하나를 쓰세요: {langs}"
        assert i18n._("a message nobody translated") == "a message nobody translated"
        assert i18n.language() == "ko"
    finally:
        i18n.set_language("en")
    assert i18n._("use one of: {langs}") == "use one of: {langs}"


def test_lang_flag_reaches_the_messages_and_a_wrong_one_names_the_choices(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TUNEWIZ_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    ko = subprocess.run([sys.executable, "-m", "engine.cli", "validate", "nowhere.yaml", "--lang", "ko"], cwd=ROOT,
                        capture_output=True, text=True, env=env)
    assert ko.returncode == 2 and "오류" in ko.stderr and "해결:" in ko.stderr, ko.stderr
    bad = subprocess.run([sys.executable, "-m", "engine.cli", "--lang", "fr", "runs"], cwd=ROOT, capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2 and "'fr'" in bad.stderr and "en, ko" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "engine.cli", "--lang", "ko", "run"], cwd=ROOT, capture_output=True,
                           text=True, env=env)  # argparse's own words come through the catalog too
    assert usage.returncode == 2 and "사용법: tunewiz run" in usage.stderr and "다음 인자가 필요합니다: preset" in usage.stderr


def test_the_compiled_catalog_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path))
    first = i18n.load("ko")
    [mo] = (tmp_path / "locale").glob("tunewiz-ko-*.mo")
    assert first.gettext("Next") == i18n.load("ko").gettext("Next") == "다음"
    mo.write_bytes(b"\x00garbage")  # a cut write, a full disk
    assert i18n.load("ko").gettext("Next") == "다음"
    assert mo.read_bytes()[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")  # rebuilt: a gettext .mo again
    (tmp_path / "locale").chmod(0o500)  # a cache that cannot be written: the catalog still loads
    try:
        monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path / "locale" / "ro"))
        assert i18n.load("ko").gettext("Next") == "다음"
    finally:
        (tmp_path / "locale").chmod(0o700)
