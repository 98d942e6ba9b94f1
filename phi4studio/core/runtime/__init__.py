"""The managed training runtime: a Python environment with torch, transformers, peft and trl
that the app creates, repairs, verifies and removes for the user (no Qt).

- `manager.RuntimeManager`: the service the Train/Export tabs use (jobs for the JobQueue).
- `pythons`: finding a Python 3.10+ to build it from; `plan`: what to install and from where;
  `setup`: the steps, run by the `runtime` worker; `pipout`: pip's output as progress, and its
  failures as messages.
"""

from phi4studio.core.runtime.manager import RUNTIME_DIRNAME, RuntimeManager, RuntimeStatus
from phi4studio.core.runtime.plan import RuntimePlan, make_plan
from phi4studio.core.runtime.pythons import PythonCandidate, find_pythons
from phi4studio.core.runtime.setup import SetupError

__all__ = [
    "RUNTIME_DIRNAME",
    "PythonCandidate",
    "RuntimeManager",
    "RuntimePlan",
    "RuntimeStatus",
    "SetupError",
    "find_pythons",
    "make_plan",
]
