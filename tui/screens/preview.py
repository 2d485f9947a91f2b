"""Step 3: the token preview. Each example exactly as the trainer receives it (the same preflight,
`pipeline.prepare`, collator and `engine.preview` functions as training): tokens as chips with ids,
attention mask and labels; the rendered text; a length histogram, stats and data checks; and, for
newcomers, a walk through what the tokenizer does to one example. This step edits no config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from engine.config import Config, to_dict
from engine.i18n import N_, _, pgettext
from tui import heavy
from tui.step import StepScreen
from tui.widgets.text_dialog import TextDialog
from tui.widgets.tokens import IGNORE, VIEW_NAMES, VIEWS, RowScroll, TokenChips, TokenRow, token_row
from tui.widgets.walkthrough import WalkThrough, readable_steps


@dataclass
class PreviewData:
    """What one config prepared: the preflight result, the prepared splits, the collator and summaries."""

    key: str
    checked: Any
    prepared: Any
    collator: Any
    batch_size: int
    padding_free: bool
    total: int  # examples to step through: rows, or batches when padding-free
    stats: dict[str, Any]
    checks: list[Any]
    histogram: list[str]
    special_ids: set[int]
    batch: dict[str, Any] | None = None  # the last collated batch (examples of one batch share it)
    method: str = "sft"  # dpo / kto / orpo: an example is a pair (or a KTO answer), shown as its sequences


@dataclass
class Shown:
    """The example on screen: the collated batch it belongs to and its row, as engine.preview gives them."""

    index: int
    batch: dict[str, Any]
    row: dict[str, Any]
    view: TokenRow
    steps: list[tuple[str, Any]] = field(default_factory=list)
    walk_shown: dict[str, Any] = field(default_factory=dict)  # the walk-through's pieces as text (readable_steps)
    full_len: int | None = None  # the example's length before truncation
    pair: list[tuple[dict[str, Any], TokenRow]] = field(default_factory=list)  # DPO / ORPO: chosen, rejected; KTO: the answer


class PreviewPrepared(Message):
    """One config's preview was prepared (from a worker): its data and first example shown, or the problem."""

    def __init__(self, key: str, data: PreviewData | None, shown: Shown | None, error: str | None) -> None:
        super().__init__()
        self.key, self.data, self.shown, self.error = key, data, shown, error


class ExampleFetched(Message):
    """Another example was collated (from a worker), or the text that says why it cannot be shown."""

    def __init__(self, shown: Shown | str) -> None:
        super().__init__()
        self.shown = shown


def config_key(cfg: Config) -> str:
    """The sections that change what the trainer receives; the preview is rebuilt when they change."""
    d = to_dict(cfg)
    return json.dumps({k: d[k] for k in ("model", "dataset", "training", "lora")}, sort_keys=True, default=str)


class PreviewScreen(StepScreen):
    STEP = "preview"
    CSS_PATH = "preview.tcss"
    AUTO_FOCUS = "#pv-scroll"
    BINDINGS = [
        *StepScreen.BINDINGS,
        Binding("left", "move(-1)", N_("Prev ex")),
        Binding("right", "move(1)", N_("Next ex")),
        Binding("k", "move(-1)", show=False),
        Binding("j", "move(1)", show=False),
        Binding("g", "jump", N_("Jump")),
        Binding("v", "view", N_("View")),
        Binding("w", "walk", N_("Walk-through")),
        Binding("c", "checks", show=False),  # named on the checks pane's border (the footer is full at 80 columns)
        Binding("escape", "close_jump", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="pv-body"):
            with Horizontal(id="pv-head"):
                yield Static("", id="pv-where")
                yield Input(placeholder=_("example no."), type="integer", id="pv-jump", disabled=True)
            yield Static("", id="pv-legend")
            with RowScroll(id="pv-scroll"):
                yield Static("", id="pv-msg")
                yield Static("", id="pv-seq-0", classes="pv-seq")
                yield TokenChips(id="pv-chips")
                yield Static("", id="pv-seq-1", classes="pv-seq")
                yield TokenChips(id="pv-chips-1")
                yield WalkThrough("", id="pv-walk")
            with Horizontal(id="pv-summary") as summary:
                summary.border_title = _("c: every check in full")
                yield Static("", id="pv-hist")
                with RowScroll(id="pv-checks-box"):
                    yield Static("", id="pv-checks")

    def on_mount(self) -> None:
        self.data: PreviewData | None = None
        self.shown: Shown | None = None
        self.walk = False
        self._pending: str | None = None
        self._error: str | None = None
        self._jump_error: str | None = None

    # ---------------------------------------------------------------------------------------- config
    def load(self, cfg: Config) -> None:
        key = config_key(cfg)
        if (self.data is not None and self.data.key == key) or self._pending == key:
            return
        self.data, self._error, self._pending = None, None, key
        self.query_one("#pv-chips", TokenChips).show(None)
        self.query_one("#pv-where", Static).update(_("Preparing the preview…"))
        self._message("[dim]" + _("Reading the tokenizer and the dataset, templating, tokenizing and masking labels "
                                  "exactly as training will (no weights loaded)…") + "[/]")
        self._prepare(cfg.model_copy(deep=True), key, self.shown.index if self.shown else 0, self.walk)

    def errors(self) -> list[str]:
        if self._error:
            fix = _("fix: {fix}").split("{fix}")[0].rstrip()  # the error's "\n  fix: ..." lines, on one line
            return [_("Tokens: the data cannot be prepared: {error}").format(
                error=self._error.replace("\n  " + fix, "; " + fix))]
        if self._jump_error:
            return [_("Jump: {error}; or press Escape to close it").format(error=self._jump_error)]
        return []

    # ---------------------------------------------------------------------------------------- worker
    @work(thread=True, exclusive=True, group="preview-data")
    def _prepare(self, cfg: Config, key: str, index: int, walk: bool) -> None:
        from engine import checks, preflight, preview
        from engine.data import pipeline
        from engine.errors import TunewizError

        worker = get_current_worker()
        try:
            heavy.ready()
            checked = preflight.check(cfg)
            tok = checked.tokenizer
            prepared = checked.prepared
            method = cfg.model.method if cfg.model.task == "causal-lm" else "sft"
            collator = pipeline.build_collator(cfg.model.task, checked.args, tok, method)
            bs = checked.args.per_device_train_batch_size
            free = cfg.model.task == "causal-lm" and method == "sft" and pipeline.padding_free(checked.args)
            n = len(prepared.train)
            if method != "sft":  # (checks.lengths reads SFT rows' input_ids: a pair's length is its longer sequence)
                from engine.data import preference

                lengths = [int(v) for v in preference.lengths(method, prepared.train)]
                limit = prepared.plan.max_length
            else:
                lengths = checks.lengths(prepared)
                limit = prepared.plan.max_length if "_full_len" in prepared.train.column_names else None
            data = PreviewData(key, checked, prepared, collator, bs, free, -(-n // bs) if free else n,
                               preview.stats(prepared), checks.data_checks(prepared, tok),
                               checks.length_histogram(lengths, bins=5, width=10, limit=limit),
                               set(tok.all_special_ids), method=method)
            outcome = PreviewPrepared(key, data, example(data, min(index, data.total - 1), walk), None)
        except TunewizError as e:
            outcome = PreviewPrepared(key, None, None, "\n".join(
                f"{p.where}: {p.what}" + ("\n  " + _("fix: {fix}").format(fix=p.fix) if p.fix else "") for p in e.problems))
        except Exception as e:  # a broken file or library: shown on the screen, never a crash
            outcome = PreviewPrepared(key, None, None, f"{type(e).__name__}: {e}")
        if not worker.is_cancelled:
            self.post_message(outcome)

    @on(PreviewPrepared)
    def _prepared(self, message: PreviewPrepared) -> None:
        key, data, shown, error = message.key, message.data, message.shown, message.error
        if key != self._pending:
            return  # the config changed again while this one was prepared
        self._pending, self.data, self._error = None, data, error
        if error or data is None or shown is None:
            self.query_one("#pv-where", Static).update(Text(_("The preview could not be built"), style="bold red"))
            self._message(Text(f"{error}", style="red"))
            self.query_one("#pv-hist", Static).update("")
            self.query_one("#pv-checks", Static).update("")
            self.show_problems(self.errors())
            return
        self.show_problems([])
        self._message("")
        self._summary(data)
        self._show(shown)

    @work(thread=True, exclusive=True, group="preview-row")
    def _fetch(self, data: PreviewData, index: int, walk: bool) -> None:
        worker = get_current_worker()
        try:
            shown: Shown | str = example(data, index, walk)
        except Exception as e:  # a row the walk-through cannot re-create: said, never a crash
            shown = _("Example {n} could not be shown: {error}").format(n=index + 1, error=f"{type(e).__name__}: {e}")
        if not worker.is_cancelled:
            self.post_message(ExampleFetched(shown))

    @on(ExampleFetched)
    def _fetched(self, message: ExampleFetched) -> None:
        self._show(message.shown)

    # ------------------------------------------------------------------------------------------ show
    def _message(self, text: str | Text) -> None:
        box = self.query_one("#pv-msg", Static)
        box.update(text)
        box.display = bool(text)

    def _show(self, shown: Shown | str) -> None:
        data = self.data
        if data is None:
            return
        self._message(Text(shown, style="red") if isinstance(shown, str) else "")
        if isinstance(shown, str):
            return
        if self.shown is None or self.shown.index != shown.index:  # another example starts at its first row
            self.query_one("#pv-scroll").scroll_home(animate=False, immediate=True)
        self.shown = shown
        row, view = shown.row, shown.view
        if shown.pair:
            self._show_pair(data, shown)
            return
        for extra in ("#pv-seq-0", "#pv-seq-1", "#pv-chips-1"):
            self.query_one(extra).display = False
        if data.padding_free:
            where = _("Batch {n} of {total} · padding-free: {rows} rows in one (║ = a row starts)").format(
                n=shown.index + 1, total=data.total, rows=len(shown.batch["_rows"]))
        else:
            where = (_("Example {n} of {total} · batch {batch}, row {row} · {place}")
                     if "_row" in data.prepared.train.column_names else
                     _("Example {n} of {total} · batch {batch}, row {row} · packed row {source}")).format(
                n=shown.index + 1, total=data.total, batch=row["batch"], row=row["row_in_batch"], source=row["source_row"],
                place=self._place(data, row["source_row"]))
        real = len(view.ids) - view.pad
        if shown.full_len is not None and shown.full_len > real:
            where += _(" · cut to {n} of {total} tokens").format(n=real, total=shown.full_len)
        elif view.per_token_labels:
            where += pgettext("token preview", " · {n} tokens").format(n=len(view.ids))
        if not view.per_token_labels:
            names = data.prepared.plan.label_names
            where += _(" · label {label}").format(label=row["labels"]) + (
                f" = {names[row['labels']]}" if row["labels"] < len(names) else "")
        self.query_one("#pv-where", Static).update(Text(where))
        chips = self.query_one("#pv-chips", TokenChips)
        chips.show(view)
        self._legend()
        if self.walk and shown.steps:
            from engine.checks import STEP_NOTES

            tok = data.checked.tokenizer
            self.query_one("#pv-walk", WalkThrough).show(shown.steps, STEP_NOTES, tok.all_special_tokens, tok.pad_token_id,
                                                         shown.walk_shown)

    @staticmethod
    def _place(data: PreviewData, source: int) -> str:
        """Where a previewed row is in the user's file ('chat.jsonl line 12'), by the data's RowPlaces."""
        places = data.prepared.places
        return places.describe([source], short=True) if places is not None else _("source row {source}").format(source=source)

    def _show_pair(self, data: PreviewData, shown: Shown) -> None:
        """A pair's chosen and rejected sequences one above the other (KTO: the answer and its label), each labelled
        with its prompt (shared, not seen by the loss) and the tokens the loss sees: the rows of engine.preview.rows."""
        row = shown.row
        where = (_("Pair {n} of {total} · batch {batch}, pair {pair} · {place}") if data.method in ("dpo", "orpo")
                 else _("Example {n} of {total} · batch {batch}, pair {pair} · {place}")).format(
            n=shown.index + 1, total=data.total, batch=row["batch"], pair=shown.index % data.batch_size,
            place=self._place(data, row["source_row"]))
        self.query_one("#pv-where", Static).update(Text(where))
        for i, (chips_id, label_id) in enumerate((("#pv-chips", "#pv-seq-0"), ("#pv-chips-1", "#pv-seq-1"))):
            chips, label = self.query_one(chips_id, TokenChips), self.query_one(label_id, Static)
            shown_here = i < len(shown.pair)
            label.display = shown_here
            if i:  # (the first chips are the SFT rows' own: their display follows the walk-through's CSS)
                chips.display = shown_here
            chips.show(shown.pair[i][1] if shown_here else None)
            label.update(sequence_label(shown.pair[i][0]) if shown_here else "")
        self._legend()

    def _legend(self) -> None:
        chips = self.query_one("#pv-chips", TokenChips)
        legend = Text()
        if self.walk:
            legend.append(_("walk-through"), "bold")
            legend.append(" │ " + _("how the tokenizer made this example's ids (w: back)"))
        elif self.shown is not None and self.shown.pair:  # (counts differ per sequence: each one's label has them)
            legend.append(_(VIEW_NAMES[chips.view]), "bold")
            legend.append(" │ ")
            for kind, label in (("trained", _("loss sees")), ("masked", _("-100: loss does not see")),
                                ("special", pgettext("token preview", "special")), ("pad", pgettext("token preview", "pad"))):
                legend.append(f" {label} ", chips._style(kind))
                legend.append(" ")
        else:
            legend.append(_(VIEW_NAMES[chips.view]), "bold")
            legend.append(" │ ")
            legend.append_text(chips.legend())
        self.query_one("#pv-legend", Static).update(legend)

    def _summary(self, data: PreviewData) -> None:
        st = data.stats
        packed = "_row" not in data.prepared.train.column_names
        hist = Text((_("{rows} packed rows: tokens") if packed else _("{rows} rows: tokens")).format(rows=st["rows"]) + "\n",
                    style="bold")
        cut = " " + pgettext("token preview", "cut")  # (engine.checks.length_histogram: the end of a line of rows longer than max_length)
        for line in data.histogram:
            hist.append(line + "\n", style="red" if line.endswith(cut) else "")
        self.query_one("#pv-hist", Static).update(hist)
        self.query_one("#pv-checks", Static).update(checks_text(data))

    # --------------------------------------------------------------------------------------- actions
    def action_move(self, delta: int) -> None:
        if self.data is not None and self.shown is not None:
            self._goto(self.shown.index + delta)

    def _goto(self, index: int) -> None:
        assert self.data is not None
        index = max(0, min(self.data.total - 1, index))
        if self.shown is None or index != self.shown.index or (self.walk and not self.shown.steps):
            self._fetch(self.data, index, self.walk)

    def action_checks(self) -> None:
        if self.data is not None:
            self.app.push_screen(TextDialog(_("Checks on the prepared data ({rows} rows)").format(rows=self.data.stats["rows"]),
                                            checks_text(self.data)))

    def action_view(self) -> None:
        chips = self.query_one("#pv-chips", TokenChips)
        chips.view = self.query_one("#pv-chips-1", TokenChips).view = VIEWS[(VIEWS.index(chips.view) + 1) % len(VIEWS)]
        self._legend()

    def action_walk(self) -> None:
        if self.data is not None and self.data.method != "sft" and not self.walk:
            self.notify(_("The walk-through follows one SFT or classification row; a pair's sequences are shown as "
                          "the trainer's collator made them."), title=_("Walk-through"))
            return
        self.walk = not self.walk
        self.query_one("#pv-scroll").set_class(self.walk, "walk")
        self._legend()
        if self.walk and self.data is not None and self.shown is not None:
            self._goto(self.shown.index)

    def action_jump(self) -> None:
        if self.data is None:
            return
        box = self.query_one("#pv-jump", Input)
        box.placeholder = _("1-{total}, Enter").format(total=self.data.total)
        box.disabled = False
        box.add_class("open")
        box.focus()

    def action_close_jump(self) -> None:
        box = self.query_one("#pv-jump", Input)
        if box.has_class("open"):
            box.value = ""
            box.remove_class("open")
            box.disabled = True
            self._jump_error = None
            self.show_problems([])
            self.query_one("#pv-scroll").focus()

    @on(Input.Submitted, "#pv-jump")
    def _jumped(self, event: Input.Submitted) -> None:
        total = self.data.total if self.data else 0
        n = int(event.value) if event.value.strip().isdigit() else 0
        if not 1 <= n <= total:
            self._jump_error = _("{value!r} is not an example number: type one from 1 to {total}").format(
                value=event.value, total=total)
            self.show_problems(self.errors())
            return
        self.action_close_jump()
        self._goto(n - 1)


def checks_text(data: PreviewData) -> Text:
    """The trained share (or the labels), truncation, and each check with its fix: the pane and its `c` dialog."""
    st = data.stats
    out = Text()
    if st.get("method", "sft") != "sft":
        kind = _("{method}: {rows:,} pairs") if st["method"] in ("dpo", "orpo") else _("{method}: {rows:,} labelled answers")
        out.append(kind.format(method=st["method"].upper(), rows=st["rows"]), "bold")
    elif "trained_share" in st:
        out.append(_("{share:.1%} of {tokens:,} tokens trained").format(share=st["trained_share"], tokens=st["tokens"]), "bold")
    else:
        plan = data.prepared.plan
        out.append(_("label: {name}, a score to predict (regression, MSE)").format(name=plan.label_names[0])
                   if plan.regression else _("labels: {names}").format(names=", ".join(plan.label_names)), "bold")
    if "truncated" in st:
        share = st["truncated"] / st["rows"] if st["rows"] else 0
        out.append(_(" · {share:.1%} truncated at max_length {max_length} (longest {longest})").format(
            share=share, max_length=st["max_length"], longest=st["longest"]))
    out.append("\n")
    for c in data.checks:
        warn = c.level == "warning"
        out.append(("⚠ " if warn else "ⓘ ") + c.message + "\n", "yellow" if warn else "dim")
        if warn:
            out.append("  " + _("fix: {fix}").format(fix=c.fix) + "\n", "dim")
    if not any(c.level == "warning" for c in data.checks):
        out.append("✓ " + _("no problems found in the data") + "\n", "green")
    return out


def sequence_label(row: dict[str, Any]) -> Text:
    """One sequence of a pair: its name (KTO: the label), its tokens, the shared prompt the loss does not see
    (labels -100 before the answer) and the answer tokens it sees."""
    labels, mask = row["labels"], row["attention_mask"]
    real = sum(1 for m in mask if m)
    prompt = 0
    for lab, m in zip(labels, mask, strict=True):
        if lab != IGNORE or not m:
            break
        prompt += 1
    seen = sum(1 for lab in labels if lab != IGNORE)
    name = row.get("sequence", "")
    style = {"chosen": "bold green", "rejected": "bold red"}.get(name, "bold")
    if "desirable" in row:
        kto = _("desirable") if row["desirable"] else _("undesirable")
        name, style = f"{name} · {kto}", "bold green" if row["desirable"] else "bold red"
    out = Text(f"▌{name}", style=style)
    out.append(_(" · {n} tokens: shared prompt {prompt} (-100) + answer {seen} (loss sees)").format(n=real, prompt=prompt, seen=seen))
    return out


def example(data: PreviewData, index: int, walk: bool) -> Shown:
    """Collate the batch holding example `index` (thread side) and take its row, as the trainer gets it."""
    from engine import checks, preview

    tok = data.checked.tokenizer
    b, j = (index, 0) if data.padding_free else divmod(index, data.batch_size)
    batch = data.batch
    if batch is None or batch["_batch"] != b:
        batch = next(preview.batches(data.prepared, data.collator, data.batch_size, start=b, count=1))
        data.batch = batch

    def decode(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    if data.method != "sft":  # the pair's sequences (rows of one pair follow each other: chosen, rejected)
        rows = list(preview.rows(batch, tok))
        per = len(rows) // len(batch["_rows"])
        pair = [(r, token_row(r, data.special_ids, decode)) for r in rows[j * per:(j + 1) * per]]
        return Shown(index, batch, pair[0][0], pair[0][1], pair=pair)
    row = list(preview.rows(batch, tok))[j]
    view = token_row(row, data.special_ids, decode)
    steps: list[tuple[str, Any]] = []
    if walk:
        text, text_pair = checks.source_text(data.prepared, data.checked.raw, tok, row)
        plan = data.prepared.plan
        steps = checks.tokenizer_walkthrough(tok, text, text_pair, max_length=plan.max_length,
                                             add_special_tokens=plan.task != "causal-lm")
    ds = data.prepared.train
    full = ds[index]["_full_len"] if "_full_len" in ds.column_names and not data.padding_free else None
    return Shown(index, batch, row, view, steps, readable_steps(tok, steps) if steps else {}, full)

