"""The export wizard's navigation, without Qt: a map page -> (next, accept, last) and a back stack.

    wiz = ExportWizard(env)
    wiz.set_source(SourceSpec(kind="run", path="...", run_id="r1"))
    wiz.next()                      # -> Page.TARGET   (accept() of SOURCE ran first)
    wiz.choices(Page.PRECISION)     # options, with `available` and the `reason` when not
    ...
    plan = wiz.finish()             # on the last page: the ExportPlan, or ExportRefused

Pages: source -> target -> precision -> strategy (only when the source has an adapter) ->
output -> summary (last). Choosing a value that makes a later choice impossible resets that
choice to the default, with a note (INT4 after 'base + adapter' goes back to 'merged'). The Qt
wizard (ui/tabs/export/wizard.py) only renders these pages.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from phi4studio.core.errors import StudioError
from phi4studio.core.export.checks import (
    check_output,
    check_plan,
    estimate_size,
    slug,
    suggest_free_folder,
    summary_lines,
)
from phi4studio.core.export.plan import (
    DEFAULT_PRECISION,
    NAME_RE,
    Capabilities,
    Choice,
    ExportPlan,
    Findings,
    Int4Options,
    SourceSpec,
    VerifyOptions,
    available,
    int4_algo_choices,
    precision_choices,
    strategy_choices,
    target_choices,
)
from phi4studio.core.export.source import SourceInfo, inspect_source


class Page(str, enum.Enum):
    SOURCE = "source"
    TARGET = "target"
    PRECISION = "precision"
    STRATEGY = "strategy"
    OUTPUT = "output"
    SUMMARY = "summary"


TITLES = {
    Page.SOURCE: "What to export",
    Page.TARGET: "Where it will run",
    Page.PRECISION: "Precision",
    Page.STRATEGY: "Adapter",
    Page.OUTPUT: "Output folder and verification",
    Page.SUMMARY: "Summary",
}


class ExportRefused(StudioError):
    """The plan cannot run as it is; `findings` says why."""

    def __init__(self, findings: Findings) -> None:
        msgs = [str(f) for f in findings.blocking]
        super().__init__("The export cannot start: " + " ".join(msgs))
        self.findings = findings


@dataclass
class WizardEnv:
    caps: Capabilities
    exports_dir: Path
    resolve: Callable[[SourceSpec], SourceInfo] = inspect_source


@dataclass(frozen=True)
class PageNav:
    next: Callable[[ExportWizard], Page | None]
    accept: Callable[[ExportWizard], None] = lambda w: None
    last: bool = False


@dataclass
class Draft:
    source: SourceSpec | None = None
    target: str = "cpu"
    precision: str = "int4"
    int4: Int4Options = field(default_factory=Int4Options)
    strategy: str = "merged"
    adapter_name: str = "ft"
    name: str = ""
    output_dir: str = ""
    verify: VerifyOptions = field(default_factory=VerifyOptions)


def _after_precision(w: ExportWizard) -> Page:
    return Page.STRATEGY if w.source_info is not None and w.source_info.has_adapter else Page.OUTPUT


NAV: dict[Page, PageNav] = {
    Page.SOURCE: PageNav(next=lambda w: Page.TARGET, accept=lambda w: w._accept_source()),
    Page.TARGET: PageNav(next=lambda w: Page.PRECISION),
    Page.PRECISION: PageNav(next=_after_precision),
    Page.STRATEGY: PageNav(next=lambda w: Page.OUTPUT),
    Page.OUTPUT: PageNav(next=lambda w: Page.SUMMARY),
    Page.SUMMARY: PageNav(next=lambda w: None, last=True),
}


class ExportWizard:
    def __init__(self, env: WizardEnv, draft: Draft | None = None) -> None:
        self.env = env
        self.draft = draft or Draft()
        self.page = Page.SOURCE
        self.stack: list[Page] = []
        self.source_info: SourceInfo | None = None
        self.notes: list[str] = []  # what was changed for the user ("strategy reset to merged")
        self._name_auto = True
        self._output_auto = True
        if self.draft.source is not None:
            self.set_source(self.draft.source)

    # --- navigation -------------------------------------------------------------------------
    @property
    def is_last(self) -> bool:
        return NAV[self.page].last

    @property
    def can_back(self) -> bool:
        return bool(self.stack)

    def can_next(self) -> bool:
        return not self.is_last and not self.page_findings().blocking

    def next(self) -> Page:
        if self.is_last:
            raise RuntimeError("the summary is the last page: finish() instead")
        blocking = self.page_findings().blocking
        if blocking:
            raise ExportRefused(Findings(blocking))
        NAV[self.page].accept(self)
        nxt = NAV[self.page].next(self)
        assert nxt is not None
        self.stack.append(self.page)
        self.page = nxt
        return nxt

    def back(self) -> Page:
        if not self.stack:
            raise RuntimeError("already on the first page")
        self.page = self.stack.pop()
        return self.page

    def path(self) -> list[Page]:
        """The pages from the first to the last, as the current choices route them."""
        out, p = [Page.SOURCE], Page.SOURCE
        while (n := NAV[p].next(self)) is not None:
            out.append(n)
            p = n
        return out

    # --- values -----------------------------------------------------------------------------
    def set_source(self, spec: SourceSpec, label: str | None = None) -> SourceInfo:
        self.draft.source = spec
        self.source_info = info = self.env.resolve(spec)
        if label:
            info.label = label
        if self._name_auto:
            self.draft.name = self._default_name()
        if self._output_auto:
            self.draft.output_dir = str(self.env.exports_dir / slug(self.draft.name))
        self._fix_dependents()
        return info

    def set_target(self, target: str) -> None:
        self._require(Page.TARGET, target)
        self.draft.target = target
        self._fix_dependents()

    def set_precision(self, precision: str) -> None:
        self._require(Page.PRECISION, precision)
        self.draft.precision = precision
        self._fix_dependents()

    def set_int4(self, *, algo: str | None = None, block_size: int | None = None,
                 accuracy_level: int | None = None, calibration_dataset: str | None = None) -> None:
        data = self.draft.int4.model_dump()
        if algo is not None:
            if not available(int4_algo_choices(self.env.caps, self.draft.target), algo):
                raise ValueError(self._reason(int4_algo_choices(self.env.caps, self.draft.target),
                                              algo))
            data["algo"] = algo
        for key, value in (("block_size", block_size), ("accuracy_level", accuracy_level),
                           ("calibration_dataset", calibration_dataset)):
            if value is not None:
                data[key] = value
        self.draft.int4 = Int4Options.model_validate(data)
        self._refresh_auto_name()

    def set_strategy(self, strategy: str) -> None:
        self._require(Page.STRATEGY, strategy)
        self.draft.strategy = strategy
        self._refresh_auto_name()

    def set_name(self, name: str) -> None:
        self._name_auto = not name
        self.draft.name = name or self._default_name()
        if self._output_auto:
            self.draft.output_dir = str(self.env.exports_dir / slug(self.draft.name))

    def set_output(self, folder: str | Path) -> None:
        self._output_auto = False
        self.draft.output_dir = str(folder)

    def use_suggested_output(self) -> str:
        """Take the free folder offered for a non-empty one."""
        free = suggest_free_folder(Path(self.draft.output_dir))
        self.set_output(free)
        return str(free)

    def set_verify(self, **values: object) -> None:
        self.draft.verify = VerifyOptions.model_validate({**self.draft.verify.model_dump(),
                                                          **values})

    # --- what the pages show ----------------------------------------------------------------
    def choices(self, page: Page) -> list[Choice]:
        d = self.draft
        if page is Page.TARGET:
            return target_choices(self.env.caps)
        if page is Page.PRECISION:
            return precision_choices(d.target)
        if page is Page.STRATEGY:
            has = self.source_info is not None and self.source_info.has_adapter
            return strategy_choices(has, d.precision, d.target)
        raise ValueError(f"the {page.value} page has no list of choices")

    def int4_algos(self) -> list[Choice]:
        """INT4 algorithms; GPTQ/AWQ appear only where there is a GPU."""
        return int4_algo_choices(self.env.caps, self.draft.target)

    def page_findings(self, page: Page | None = None) -> Findings:
        """What the page must show: blocking items stop Next."""
        page = page or self.page
        f = Findings()
        if page is Page.SOURCE:
            if self.draft.source is None or self.source_info is None:
                f.add("refuse", "no_source", "Choose a training run or a model folder.")
            else:
                for p in self.source_info.problems:
                    f.add("refuse", "source", p)
        elif page is Page.OUTPUT:
            if not NAME_RE.match(self.draft.name or ""):
                f.add("refuse", "bad_name", "A name is 1-80 letters, digits, spaces, '.', '_' "
                      "or '-'.")
            if not self.draft.output_dir:
                f.add("refuse", "no_output", "Choose an output folder.")
            else:
                check_output(Path(self.draft.output_dir), f, self.source_info)
        elif page is Page.SUMMARY:
            try:
                return check_plan(self.plan(), self._info(), self.env.caps)
            except ValueError as exc:
                f.add("refuse", "invalid", str(exc))
        elif page is Page.PRECISION and self.draft.precision == "int4":
            algo = self.draft.int4.algo
            if algo in ("gptq", "awq") and not self.draft.int4.calibration_dataset:
                f.add("refuse", "no_calibration", f"{algo.upper()} needs a calibration dataset.")
        return f

    def plan(self) -> ExportPlan:
        d = self.draft
        if d.source is None:
            raise ValueError("no source chosen")
        return ExportPlan.model_validate({
            "name": d.name or "export", "source": d.source, "strategy": d.strategy,
            "adapter_name": d.adapter_name, "precision": d.precision, "int4": d.int4,
            "target": d.target, "output_dir": d.output_dir, "verify": d.verify})

    def summary(self) -> list[str]:
        return summary_lines(self.plan(), self._info(), self.env.caps)

    def estimated_bytes(self) -> int | None:
        est = estimate_size(self.plan(), self._info())
        return est.model_bytes if est else None

    def can_finish(self) -> bool:
        return self.is_last and not self.page_findings().blocking

    def finish(self) -> ExportPlan:
        """The plan, from the last page; ExportRefused while something blocks it."""
        if not self.is_last:
            raise RuntimeError("finish() is for the summary page")
        findings = self.page_findings()
        if findings.blocking:
            raise ExportRefused(findings)
        return self.plan()

    # --- internals --------------------------------------------------------------------------
    def _info(self) -> SourceInfo:
        if self.source_info is None:
            raise ValueError("no source chosen")
        return self.source_info

    def _accept_source(self) -> None:
        self._fix_dependents()

    def _require(self, page: Page, value: str) -> None:
        choices = self.choices(page)
        if not available(choices, value):
            raise ValueError(self._reason(choices, value))

    @staticmethod
    def _reason(choices: list[Choice], value: str) -> str:
        for c in choices:
            if c.value == value:
                return c.reason
        return f"{value!r} is not an option here"

    def _fix_dependents(self) -> None:
        """Reset later choices that the earlier ones made impossible (with a note)."""
        d = self.draft
        if not available(precision_choices(d.target), d.precision):
            self.notes.append(f"{d.precision.upper()} is not built for {d.target}: "
                              f"{DEFAULT_PRECISION[d.target].upper()} instead.")
            d.precision = DEFAULT_PRECISION[d.target]
        if d.precision == "int4" and not available(self.int4_algos(), d.int4.algo):
            d.int4 = d.int4.model_copy(update={"algo": "k_quant_mixed"})
        has = self.source_info is not None and self.source_info.has_adapter
        if d.strategy == "adapter" and not available(
                strategy_choices(has, d.precision, d.target), "adapter"):
            self.notes.append("The swappable adapter is not possible with these choices: the "
                              "adapter will be merged.")
            d.strategy = "merged"
        self._refresh_auto_name()

    def _default_name(self) -> str:
        d = self.draft
        base = self.source_info.label if self.source_info else "export"
        base = slug(base.removeprefix("run "))
        prec = d.precision + (f"-{d.int4.algo}" if d.precision == "int4" else "")
        tail = "-adapter" if d.strategy == "adapter" else ""
        return f"{base}-{prec}-{d.target}{tail}"[:80]

    def _refresh_auto_name(self) -> None:
        if self._name_auto and self.source_info is not None:
            self.draft.name = self._default_name()
            if self._output_auto:
                self.draft.output_dir = str(self.env.exports_dir / slug(self.draft.name))
