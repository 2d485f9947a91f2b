"""The one error type the engine raises for bad input: what is wrong, where, and how to fix it."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from engine.i18n import _


@dataclass(frozen=True)
class Problem:
    """One bad input: `where` is a file, line or preset field; `fix` says what to do."""

    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if not self.fix:
            return text
        # a fix of several lines (a YAML example) lines up under its first line, after "fix: " in any language
        head = _("fix: {fix}").partition("{fix}")[0]
        indent = " " * (4 + sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in head))
        return text + "\n    " + _("fix: {fix}").format(fix=self.fix.replace("\n", "\n" + indent))


class TunewizError(Exception):
    """One or more problems found before (or while) running; the CLI prints them and exits with 2."""

    def __init__(self, problems: Problem | Iterable[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, where: str, what: str, fix: str = "") -> TunewizError:
        """Shorthand for a single problem."""
        return cls(Problem(where, what, fix))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' Did you mean X?' for the closest valid name, or ''."""
    best, best_score = "", 0.0
    for choice in choices:
        score = difflib.SequenceMatcher(None, name, choice).ratio()
        # a misspelt part of a long name (nme -> name_or_path) counts a little less than the whole
        parts = [difflib.SequenceMatcher(None, name, part).ratio() * 0.9 for part in choice.split("_") if len(part) > 2]
        score = max([score, *parts])
        if score > best_score:
            best, best_score = choice, score
    return _("did you mean {name}?").format(name=best) if best_score >= 0.6 else ""
