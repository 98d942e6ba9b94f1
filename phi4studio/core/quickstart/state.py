"""The quick start's persisted state: which step the flow reached, and what each step made.

    <workspace>/quickstart/<flow id>/state.json     this file (written atomically after every
                                                     change: a crash loses nothing but the step
                                                     in flight, which runs again on resume)
                                    tools.json      the tool catalog the flow trains for

A flow is a fixed list of steps run in order. A step is `pending`, `running`, `done`, `failed`,
`cancelled`, `skipped` or `interrupted`: a step found `running` when the state is loaded was
interrupted (the app stopped) and is run again from what it recorded (a training run resumes
from its checkpoint, evaluations resume at their first unfinished case). Artefacts link into
the other tabs: the dataset id, the training run id, the export ids and the evaluation ids.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.fileio import atomic_write_json

STATE_VERSION = 1
STATE_FILE = "state.json"
TOOLS_FILE = "tools.json"
FOLDER = "quickstart"

STEPS: tuple[str, ...] = ("tools", "synthesize", "validate", "split", "train", "export",
                          "evaluate", "verdict")
STEP_TITLES = {
    "tools": "Tools", "synthesize": "Synthesize a dataset", "validate": "Validate",
    "split": "Split (train / validation / held-out test)", "train": "Train (LoRA)",
    "export": "Export (ONNX, verified)", "evaluate": "Evaluate base vs fine-tuned",
    "verdict": "Verdict",
}
PENDING, RUNNING, DONE, FAILED, CANCELLED, SKIPPED, INTERRUPTED = (
    "pending", "running", "done", "failed", "cancelled", "skipped", "interrupted")
FINISHED = (DONE, SKIPPED)


@dataclass
class StepState:
    name: str
    status: str = PENDING
    message: str = ""
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    jobs: list[str] = field(default_factory=list)  # queue job ids, newest last

    @property
    def title(self) -> str:
        return STEP_TITLES.get(self.name, self.name)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class FlowState:
    """One quick start: its options, the resolved recipe, the steps and the artefacts."""

    id: str
    options: dict[str, Any]
    recipe: dict[str, Any] = field(default_factory=dict)
    steps: list[StepState] = field(default_factory=lambda: [StepState(s) for s in STEPS])
    artefacts: dict[str, Any] = field(default_factory=dict)
    status: str = PENDING  # pending, running, done, failed, cancelled or interrupted
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    version: int = STATE_VERSION

    # --- steps ------------------------------------------------------------------------------
    def step(self, name: str) -> StepState:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def current(self) -> StepState | None:
        """The first step not finished (None: every step is done)."""
        return next((s for s in self.steps if not s.finished), None)

    @property
    def done(self) -> bool:
        return self.current is None

    @property
    def progress(self) -> float:
        return sum(1 for s in self.steps if s.finished) / len(self.steps)

    @property
    def label(self) -> str:
        return str(self.options.get("label") or self.id)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s or 0.0 for s in self.steps)

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowState:
        steps = {s["name"]: StepState.from_dict(s) for s in d.get("steps") or []}
        return cls(id=str(d["id"]), options=dict(d.get("options") or {}),
                   recipe=dict(d.get("recipe") or {}),
                   steps=[steps.get(n) or StepState(n) for n in STEPS],
                   artefacts=dict(d.get("artefacts") or {}), status=str(d.get("status") or
                                                                         PENDING),
                   error=d.get("error"), created_at=float(d.get("created_at") or time.time()),
                   updated_at=float(d.get("updated_at") or time.time()),
                   version=int(d.get("version") or STATE_VERSION))


def new_flow_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]


class FlowStore:
    """The quick starts of one workspace, one folder each."""

    def __init__(self, workspace_root: Path) -> None:
        self.root = Path(workspace_root) / FOLDER

    def folder(self, flow_id: str) -> Path:
        return self.root / flow_id

    def create(self, options: dict[str, Any], recipe: dict[str, Any] | None = None) -> FlowState:
        state = FlowState(id=new_flow_id(), options=dict(options), recipe=dict(recipe or {}))
        self.folder(state.id).mkdir(parents=True, exist_ok=False)
        self.save(state)
        return state

    def save(self, state: FlowState) -> None:
        state.updated_at = time.time()
        atomic_write_json(self.folder(state.id) / STATE_FILE, state.to_dict())

    def load(self, flow_id: str) -> FlowState:
        path = self.folder(flow_id) / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyError(f"no quick start {flow_id} in {self.root}") from None
        state = FlowState.from_dict(data)
        return state

    def flows(self) -> Iterator[FlowState]:
        """Every readable flow, newest first."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir(), reverse=True):
            if (folder / STATE_FILE).is_file():
                try:
                    yield self.load(folder.name)
                except (OSError, ValueError, KeyError, TypeError):
                    continue

    def latest(self) -> FlowState | None:
        return next(self.flows(), None)

    def unfinished(self) -> FlowState | None:
        """The newest flow that stopped before its verdict (to offer resuming it)."""
        return next((f for f in self.flows() if not f.done), None)


def mark_interrupted(state: FlowState) -> bool:
    """A state loaded from disk with a step `running`: the session that ran it is gone."""
    changed = False
    for s in state.steps:
        if s.status == RUNNING:
            s.status = INTERRUPTED
            s.message = "interrupted: it runs again (from what it kept) on resume"
            changed = True
    if state.status == RUNNING:
        state.status = INTERRUPTED
        changed = True
    return changed
