"""Messages in the user's language: gettext catalogs, English as the source and the fallback.

Code marks a message with `_("...")` (translated where it is shown) or `N_("...")` (a constant: marked for the
catalog, translated later with `_(CONST)`); a message with values uses named fields, `_("{n} rows").format(n=n)`,
so a translation may put them in its own order. The catalogs are gettext .po files,
`engine/locale/<lang>/LC_MESSAGES/*.po` (all files there form the language's catalog), read with Babel when the
language is first used; an entry that is missing or empty shows the English text.

The language: `tunewiz --lang ko|en`, else `TUNEWIZ_LANG`, else the terminal's locale (LANGUAGE, LC_ALL,
LC_MESSAGES, LANG, in gettext's order). `set_language` also sets TUNEWIZ_LANG, so the processes tunewiz starts
(a training run, a smoke test) write their messages in the same language.
"""

from __future__ import annotations

import gettext as _gettext
import hashlib
import io
import os
import struct
import threading
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "tunewiz"
LANGS = {"en": "English", "ko": "한국어"}
ENV = "TUNEWIZ_LANG"

_lock = threading.Lock()
_translations: _gettext.NullTranslations | None = None
_lang: str | None = None


def from_locale(value: str | None) -> str | None:
    """`ko_KR.UTF-8`, `ko`, `KO` -> "ko"; a language tunewiz has no catalog for (`de_DE`, `C`, `POSIX`) -> "en";
    empty -> None."""
    value = (value or "").strip()
    if not value:
        return None
    code = value.split(":")[0].split(".")[0].split("@")[0].split("_")[0].split("-")[0].lower()
    return code if code in LANGS else "en"


def resolve(flag: str | None = None) -> str:
    """The language to speak: the --lang flag, TUNEWIZ_LANG, then the locale variables gettext reads."""
    for value in (flag, os.environ.get(ENV), *(os.environ.get(v) for v in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"))):
        lang = from_locale(value)
        if lang is not None:
            return lang
    return "en"


def catalog_files(lang: str) -> list[Path]:
    return sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))


def load(lang: str) -> _gettext.NullTranslations:
    """The language's catalog as gettext translations (English: none, every message as written). The .po files are
    compiled once into a .mo file in the tunewiz cache, named by their sizes and times (reading 1,600 entries with
    Babel takes ~0.1 s; the compiled file, a few ms); a cache that cannot be read or written is skipped."""
    files = catalog_files(lang) if lang != "en" else []
    if not files:
        return _gettext.NullTranslations()
    stamp = hashlib.sha1(repr([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]).encode()).hexdigest()[:16]
    cached = (Path(os.environ.get("TUNEWIZ_HOME") or Path.home() / ".cache" / "tunewiz") / "locale" /
              f"{DOMAIN}-{lang}-{stamp}.mo")
    try:
        with open(cached, "rb") as f:
            return _gettext.GNUTranslations(f)
    except (OSError, ValueError, IndexError, struct.error, UnicodeDecodeError):
        pass
    data = compile_catalog(lang, files)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, cached)
        for old in cached.parent.glob(f"{DOMAIN}-{lang}-*.mo"):  # compiled from earlier versions of the catalog
            if old != cached:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return _gettext.GNUTranslations(io.BytesIO(data))


def compile_catalog(lang: str, files: list[Path]) -> bytes:
    """The .po files of a language as one compiled .mo (entries left empty or marked fuzzy are left out)."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    merged = Catalog(locale=lang, domain=DOMAIN)
    for path in files:
        with open(path, "rb") as f:
            for message in read_po(f, locale=lang):
                if message.id and message.string and not message.fuzzy:
                    merged[message.id] = message
    buf = io.BytesIO()
    write_mo(buf, merged)
    return buf.getvalue()


def set_language(lang: str) -> str:
    """Speak `lang` from now on ("en" or "ko"; anything else: English), here and in the processes started from here."""
    global _translations, _lang
    lang = from_locale(lang) or "en"
    with _lock:
        _translations, _lang = load(lang), lang
    os.environ[ENV] = lang
    return lang


def language() -> str:
    """The language in use (resolved from the environment on first use)."""
    if _lang is None:
        _current()
    return _lang or "en"


def _current() -> _gettext.NullTranslations:
    global _translations, _lang
    if _translations is None:
        with _lock:
            if _translations is None:
                lang = resolve()
                _translations, _lang = load(lang), lang
    return _translations


def _(message: str) -> str:
    """`message` in the user's language (English when the catalog has no entry for it)."""
    return _current().gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the user's language."""
    return _current().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the user's language, where the same English words need different translations by `context`."""
    return _current().pgettext(context, message)


def N_(message: str) -> str:
    """Marks a constant for the catalog without translating it here: translate it where it is shown, `_(CONST)`."""
    return message
