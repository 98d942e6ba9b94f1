"""Save to dataset: a Playground conversation (with the calls the user corrected) becomes a
canonical example, validated on the way in.

    example = conversation_example(session)              # dict: messages, tools, scenario...
    issues = validate_example(example)                    # what the save dialog lists
    saved_id = save_example(library, dataset_id, example) # refused while errors remain
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.schema import Example, data_hash, example_from_dict
from phi4studio.core.datasets.validation import ERROR, Issue, validate_example

if TYPE_CHECKING:
    from phi4studio.core.datasets.library import DatasetLibrary
    from phi4studio.core.playground.session import ChatSession


def conversation_example(session: ChatSession, *, example_id: str | None = None,
                         scenario: str | None = None, notes: str = "") -> dict[str, Any]:
    """The conversation as a canonical example dict: the system prompt, messages with the
    calls as corrected (not as first generated), and the definitions of every tool offered."""
    from phi4studio.core.datasets.coverage import infer_scenario

    messages: list[dict[str, Any]] = []
    for m in session.conversation():
        msg: dict[str, Any] = {"role": m["role"], "content": str(m.get("content") or "")}
        if m.get("tool_calls"):
            msg["tool_calls"] = [{"id": c["id"], "name": c["name"],
                                  "arguments": dict(c.get("arguments") or {})}
                                 for c in m["tool_calls"]]
        for key in ("tool_call_id", "name"):
            if m.get(key) and m["role"] == "tool":
                msg[key] = m[key]
        messages.append(msg)
    tools = [_tool_def(t) for t in (session.offered or {t["name"]: t for t in session.tools}
                                    ).values()]
    d: dict[str, Any] = {
        "id": example_id or f"playground-{uuid.uuid4().hex[:10]}",
        "messages": messages, "tools": tools, "scenario": None,
        "source": f"playground:{session.model_name}" if session.model_name else "playground",
        "split": None, "tags": ["playground"], "notes": notes,
    }
    if any(c.edited for t in session.turns for c in t.calls):
        d["tags"].append("corrected")
    d["scenario"] = scenario or infer_scenario(d)
    return d


def _tool_def(t: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
    return {k: t[k] for k in keep if t.get(k) is not None}


def check_example(example: Mapping[str, Any]) -> tuple[Example | None, list[Issue]]:
    """Shape first (a DatasetError is one error at `$`), then meaning (validate_example)."""
    try:
        ex = example_from_dict(example)
    except DatasetError as exc:
        return None, [Issue(ERROR, "bad_shape", "$", str(exc))]
    return ex, validate_example(ex)


def save_example(library: DatasetLibrary, dataset_id: str, example: Mapping[str, Any]) -> str:
    """Add the example to the dataset (a new id when the id is taken) and store its validation
    result with it. Refused (DatasetError) while it has errors."""
    ex, issues = check_example(example)
    errors = [i for i in issues if i.severity == ERROR]
    if ex is None or errors:
        first = errors[0] if errors else issues[0]
        raise DatasetError(f"The example has {len(errors) or 1} error(s); the first: "
                           f"{first.path}: {first.message}",
                           hint="Correct it in the save dialog, then save again.")
    store = library.store(dataset_id)
    saved = store.add(ex, on_conflict="rename")
    stored = store.get_dict(saved)
    if stored is not None:  # no errors here: only warnings, if anything
        store.record_checks([(data_hash(stored), "warning" if issues else "ok", 0, len(issues),
                              [i.to_dict() for i in issues])])
    library.sync(dataset_id)
    return saved
