"""The memory estimate as a table: each kind of memory, its size and how it was counted, the verdict for the
chosen GPU and the cheapest change that makes the run fit; and the GPU choices (this machine's and common cards)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.markup import escape
from textual.widgets import Static

from engine import estimate
from engine.i18n import _

CPU = "cpu"


def gpu_options(detected: list[tuple[str, float]]) -> list[tuple[str, str]]:
    """This machine's GPUs, the common cards, and CPU; values are 'gpu:GiB' or 'cpu'."""
    mine = [(_("{name}: {gib:.0f} GiB (this machine)").format(name=name, gib=gib), f"gpu:{gib:.1f}") for name, gib in detected]
    return [*mine, *[(label, f"gpu:{gib:g}") for gib, label in estimate.COMMON_GPUS], (_("CPU: no GPU (fp32)"), CPU)]


def gpu_gib(value: Any) -> float | None:
    """GiB of a gpu_options value; None for the CPU."""
    return float(str(value).removeprefix("gpu:")) if str(value).startswith("gpu:") else None


class MemoryTable(Static):
    """Shows an Estimate (or why there is none)."""

    def show(self, est: estimate.Estimate, info: Any, applied: list[Any] | None = None, notes: list[str] | None = None,
             auto: bool = True, measured: list[str] | None = None) -> None:
        """The table, the verdict, the advice, the notes, and the fast defaults applied for this GPU (engine.speed);
        `measured`: what a smoke test of these choices measured (engine.smoke.lines)."""
        table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(style="dim")
        rows = estimate.explain(est, info)
        for what, size, how in rows[:-1]:
            table.add_row(what, size, how)
        what, size, how = rows[-1]
        verdict = "green" if est.fits else "red" if est.fits is False else ""
        table.add_row(Text(what, style="bold"), Text(size, style="bold"), Text(how, style=f"bold {verdict}"))
        parts: list[Any] = [table]
        if measured:
            parts.append(Text(_("Measured by the smoke test of these choices:"), style="bold"))
            parts += [Text("  " + line) for line in measured]
        if est.advice:
            parts.append(Text(_("To fit: {advice}").format(advice=est.advice), style="yellow"))
        parts += [Text(note, style="dim") for note in [*est.notes, *(notes or [])]]
        basis = est.basis()
        basis = basis[0].upper() + basis[1:]
        # validate and the run estimate for the machine they run on; this table, for the hardware picked above it
        parts.append(Text((_("{basis}, for the hardware chosen above (validate and the run estimate for the machine "
                             "they run on). Calibrated on an H200 against measured peaks (bench/RESULTS.md).")
                           if est.plan.batch_tokens is not None else
                           _("{basis}, until the data is measured, for the hardware chosen above (validate and the run "
                             "estimate for the machine they run on). Calibrated on an H200 against measured peaks "
                             "(bench/RESULTS.md).")).format(basis=basis), style="dim"))
        if est.plan.on_gpu:
            if not auto:
                parts.append(Text(_("speed.auto is false: no fast defaults (the libraries' own defaults apply)."), style="yellow"))
            elif applied:
                parts.append(Text(_("Fast defaults tunewiz applies on this GPU (each can be turned off):"), style="bold"))
                for a in applied:
                    value = "true" if a.value is True else "false" if a.value is False else str(a.value)
                    parts.append(Text.assemble(("  " + a.key + ": ", "bold"), (value, "green"),
                                               (_(" - {why}; off: {off}").format(why=a.why, off=a.off), "dim")))
        self.update(Group(*parts))

    def show_missing(self, error: str | None) -> None:
        """No model facts yet (being inspected), or the inspection failed."""
        self.update("[red]" + escape(_("Cannot estimate: {error}").format(error=error)) + "[/]" if error
                    else "[dim]" + escape(_("Inspecting the model (no weights loaded)...")) + "[/]")
