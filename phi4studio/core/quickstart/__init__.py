"""Quick start: "here are my tools" -> a measurably better tool-calling model, in one guided flow.

tools -> synthesize -> validate -> split -> train -> export -> evaluate (base vs fine-tuned, on the
held-out split and BFCL categories) -> verdict. Each step is a job in the queue; the state is
saved in the workspace after every change, so the flow survives a restart and resumes at the step
it reached. Qt-free: the Quick start page and `phi4studio quickstart` sit on top.
"""

from phi4studio.core.quickstart.flow import QuickStart, StepContext, StepFailed
from phi4studio.core.quickstart.recipe import (
    QuickStartOptions,
    ToolSource,
    default_base,
    make_recipe,
)
from phi4studio.core.quickstart.state import STEP_TITLES, STEPS, FlowState, FlowStore, StepState

__all__ = ["STEPS", "STEP_TITLES", "FlowState", "FlowStore", "QuickStart", "QuickStartOptions",
           "StepContext", "StepFailed", "StepState", "ToolSource", "default_base", "make_recipe"]
