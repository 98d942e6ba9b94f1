"""Creating an evaluation run and driving it through the inference worker.

    run = create_run(workspace, EvalConfig(model="exports/m", suites=["bfcl:simple_python"]))
    summary = await evaluate(run.path, on_event=print)        # resumes if results exist

`evaluate` is what the evaluation worker (`phi4studio --worker eval --run DIR`) and the
`phi4studio eval` command run: it starts the model's inference worker through `InferenceClient`
(the long-lived onnxruntime-genai process, never a second generation loop), then the Runner.
Events it reports use the subprocess protocol's shapes (start, progress, metric, log, result).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import StudioError
from phi4studio.core.evaluation import metrics, suites
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.evaluation.runner import DEFAULT_MAX_NEW_TOKENS, GUIDED_MODES

if TYPE_CHECKING:
    from phi4studio.core.workspace import Workspace

Event = dict[str, Any]


class EvaluationError(StudioError):
    """An evaluation that cannot be created or run."""


@dataclass
class EvalConfig:
    model: str
    suites: list[str]
    adapter: str | None = None  # a name (<model>/adapters/NAME.onnx_adapter) or a file
    limit: int | None = None  # per suite
    guided: str = "off"  # off | grammar | calls
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    # Tool-call decoding control (core.inference.CallControl): with `grammar`, call only when
    # the model's probability of starting a call is at least this (None: greedy decides);
    # a text answer then stops after `text_tokens`; `stop_repeats` ends a call list at the
    # first call that repeats one of the same answer.
    call_threshold: float | None = None
    text_tokens: int | None = None
    stop_repeats: bool = False
    # withhold calls that give a required value the conversation does not state, and ask for
    # it instead (core.inference.grounding)
    ask_missing: bool = False
    # with a call threshold and one block per call: after each call, another call only when
    # the model's probability of one (against ending) is at least this (None: greedy decides)
    more_threshold: float | None = None
    # with guidance: after each call, the optional parameters it leaves out are offered to the
    # model again, and the values the conversation states are kept (core.inference.stated)
    stated_optional: bool = False
    # with grammar guidance: the tool's name is weighed by the request's words, this many nats
    # per word of a tool's score (core.inference.relevance; None or 0: the model alone)
    tool_words: float | None = None
    # with guidance: each required number or integer is written as one the conversation states
    # (core.inference.grounding.numbers_as_stated)
    stated_numbers: bool = False
    format: str | None = None  # chat format name; None: detected from the model folder
    provider: str = "auto"
    step_limit: int = 20
    name: str = ""
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def label(self) -> str:
        model = Path(self.model).name
        return f"{model}+{self.adapter}" if self.adapter else model


def adapter_file(model: Path, adapter: str) -> Path:
    """`ft` -> <model>/adapters/ft.onnx_adapter; a path is taken as it is."""
    p = Path(adapter)
    if p.suffix == ".onnx_adapter" or p.is_file():
        return p
    return model / "adapters" / f"{adapter}.onnx_adapter"


def check_decoding(config: EvalConfig) -> None:
    """EvaluationError for call control the settings cannot have (see EvalConfig)."""
    if config.call_threshold is not None:
        if not 0.0 <= config.call_threshold <= 1.0:
            raise EvaluationError(f"The call threshold is a probability (0 to 1), not "
                                  f"{config.call_threshold}.")
        if config.guided != "grammar":
            raise EvaluationError("A call threshold needs grammar-guided decoding.",
                                  hint="Use --guided grammar (Guided: grammar).")
    if config.more_threshold is not None:
        if not 0.0 <= config.more_threshold <= 1.0:
            raise EvaluationError(f"The more-calls threshold is a probability (0 to 1), not "
                                  f"{config.more_threshold}.")
        if config.call_threshold is None:
            raise EvaluationError("A more-calls threshold needs a call threshold (both decide "
                                  "by probability under the calls-first grammar).")
    if config.tool_words:
        if not 0.0 < config.tool_words <= 10.0:
            raise EvaluationError(f"The tool-words weight is a number of nats per word (above 0, "
                                  f"at most 10), not {config.tool_words}.")
        if config.guided != "grammar":
            raise EvaluationError("Weighing the tool's name by the request's words needs "
                                  "grammar-guided decoding.",
                                  hint="Use --guided grammar (Guided: grammar).")
    if config.stated_numbers and config.guided == "off":
        raise EvaluationError("Holding required numbers to the stated ones needs guided "
                              "decoding.", hint="Use --guided grammar (Guided: grammar).")
    if config.text_tokens is not None and (config.text_tokens < 1
                                           or config.call_threshold is None):
        raise EvaluationError("A text-token budget is a whole number >= 1 and needs a call "
                              "threshold (it stops answers decided as text).")


def create_run(workspace: Workspace | None, config: EvalConfig, *, folder: Path | None = None,
               benchmarks_root: Path | None = None, register: bool = True) -> RunDir:
    """Resolve the suites into a frozen case list in a new run folder, and (`register`) add
    its catalog row. Without `register` it touches no catalog (safe on a worker thread)."""
    model = Path(config.model).expanduser().resolve()
    if not (model / "genai_config.json").exists():
        raise EvaluationError(f"{model} is not an onnxruntime-genai model folder "
                              "(no genai_config.json).",
                              hint="Export the model first (Export tab), then evaluate the "
                                   "exported folder.")
    config.model = str(model)
    if config.adapter and not adapter_file(model, config.adapter).exists():
        raise EvaluationError(f"No adapter {config.adapter!r} for {model.name} "
                              f"({adapter_file(model, config.adapter)} does not exist).")
    if config.guided not in GUIDED_MODES:
        raise EvaluationError(f"guided must be one of {', '.join(GUIDED_MODES)}")
    check_decoding(config)
    names = suites.split_names(config.suites)
    if not names:
        raise EvaluationError("Choose at least one suite.")
    config.suites = names
    cases = suites.resolve_all(names, workspace=workspace, limit=config.limit,
                               benchmarks_root=benchmarks_root)
    if folder is None:
        if workspace is None:
            raise EvaluationError("a run needs a workspace or a folder")
        folder = workspace.evals_dir / new_run_id()
    folder.mkdir(parents=True, exist_ok=False)
    run = RunDir(folder)
    config.name = config.name or f"{config.label} · {', '.join(names)}"
    run.write_config(config.to_dict())
    run.write_cases(cases)
    if register and workspace is not None:
        register_run(workspace, run)
    return run


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def register_run(workspace: Workspace, run: RunDir) -> None:
    """The run's row in the catalog's evaluations table."""
    config = EvalConfig.from_dict(run.config())
    folder = run.path.resolve()
    root = workspace.root.resolve()
    rel = folder.relative_to(root) if folder.is_relative_to(root) else folder
    workspace.catalog.add("evaluations", id=run.id, name=config.name, model=model_key(config),
                          suite=",".join(config.suites), path=str(rel),
                          metrics={"status": "created", "total": run.n_cases(), "done": 0,
                                   "guided": config.guided, "adapter": config.adapter,
                                   "model_dir": config.model})


def model_key(config: EvalConfig) -> str:
    """What history groups by: the model folder, plus the adapter."""
    return config.model + (f"#{config.adapter}" if config.adapter else "")


def record_summary(workspace: Workspace, run: RunDir, status: str) -> None:
    """Store a run's state and headline metrics in its catalog row."""
    summary = run.summary() or {}
    row = workspace.catalog.get("evaluations", run.id)
    if row is None:
        return
    meta = dict(row.get("metrics") or {})
    meta.update(status=status, done=summary.get("done", 0), total=summary.get("total"),
                headline=metrics.headline(summary) if summary else {},
                by_category={k: (v.get("accuracy") or {}).get("value")
                             for k, v in (summary.get("by_category") or {}).items()},
                updated_at=time.time())
    workspace.catalog.update("evaluations", run.id, metrics=meta)


# --- running ---------------------------------------------------------------------------------


async def evaluate(run_path: Path, *, on_event: Callable[[Event], None] | None = None,
                   cancelled: Callable[[], bool] = lambda: False,
                   benchmarks_root: Path | None = None,
                   client_factory: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Run (or resume) the evaluation in `run_path`; returns its summary."""
    from phi4studio.core.chatformats import detect_format, get_format
    from phi4studio.core.evaluation.runner import GuidanceRejected, Runner
    from phi4studio.core.inference import GenerateRequest, GenerationError, Guidance
    from phi4studio.core.inference import InferenceClient as DefaultClient

    emit = on_event or (lambda ev: None)
    run = RunDir(Path(run_path))
    cfg = EvalConfig.from_dict(run.config())
    model = Path(cfg.model)
    fmt = get_format(cfg.format, template=model) if cfg.format else detect_format(model)
    adapters = {"eval": adapter_file(model, cfg.adapter)} if cfg.adapter else None
    factory = client_factory or DefaultClient
    client = factory(model, provider=cfg.provider, adapters=adapters)
    t0 = time.perf_counter()
    info = await client.start()
    emit({"type": "start", "message": f"evaluating {cfg.label} ({fmt.name} format) on "
          f"{', '.join(cfg.suites)}", "total": run.n_cases(), "model": cfg.model,
          "provider": info.get("provider"), "format": fmt.name, "load_s":
          round(time.perf_counter() - t0, 3), "run": str(run.path)})

    async def generate(prompt: str, guidance: tuple[str, str] | None,
                       max_new_tokens: int, calls: Any = None) -> Mapping[str, Any]:
        req = GenerateRequest(prompt=prompt, add_special_tokens=False, greedy=True,
                              max_new_tokens=max_new_tokens, echo_prompt=False, calls=calls,
                              adapter="eval" if cfg.adapter else "",
                              # forced tokens (the grammar's only choice) are inserted
                              # without running the model: the same text, about 30% sooner
                              guidance=Guidance(guidance[0], guidance[1],  # type: ignore[arg-type]
                                                ff_tokens=True) if guidance else None)
        task = asyncio.ensure_future(client.complete(req))
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if cancelled() and not task.done():
                client.stop_generation(req.id)
                break
        try:
            result: Mapping[str, Any] = await task
        except GenerationError as exc:
            if exc.code == "bad_guidance":
                raise GuidanceRejected(exc.message) from exc
            raise
        return result

    last = [0.0]

    def progress(done: int, total: int, result: Mapping[str, Any] | None,
                 eta: float | None) -> None:
        if result is not None:
            emit({"type": "metric", "name": "case", "id": result.get("id"),
                  "ok": bool(result.get("ok")), "category": result.get("category"),
                  "value": 1.0 if result.get("ok") else 0.0, "step": done})
        now = time.monotonic()
        if result is not None and done < total and now - last[0] < 0.1:
            return
        last[0] = now
        emit({"type": "progress", "step": done, "total": total,
              "eta_s": round(eta, 1) if eta is not None else None,
              "message": f"{done}/{total} cases" + (f" · {result.get('id')}" if result else "")})

    runner = Runner(run, generate, fmt, guided=cfg.guided, max_new_tokens=cfg.max_new_tokens,
                    step_limit=cfg.step_limit, benchmarks_root=benchmarks_root,
                    on_progress=progress, cancelled=cancelled,
                    call_threshold=cfg.call_threshold, text_tokens=cfg.text_tokens,
                    stop_repeats=cfg.stop_repeats, ask_missing=cfg.ask_missing,
                    more_threshold=cfg.more_threshold, stated_optional=cfg.stated_optional,
                    tool_words=cfg.tool_words, stated_numbers=cfg.stated_numbers)
    try:
        summary = await runner.run()
    finally:
        await client.close()
    headline = metrics.headline(summary)
    acc = metrics.fmt_ratio(summary["overall"]["accuracy"])
    emit({"type": "result", "message": f"{summary['done']}/{summary['total']} cases, "
          f"accuracy {acc}", "data": {"run": str(run.path), "complete": summary["complete"],
                                      "cancelled": cancelled(), "done": summary["done"],
                                      "total": summary["total"], "headline": headline}})
    return summary
