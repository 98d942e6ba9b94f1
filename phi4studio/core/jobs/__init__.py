"""Background work: Job, JobState, JobQueue, SubprocessJob and the JSON-lines protocol."""

from phi4studio.core.jobs.model import (
    CoroutineJob,
    ExecutorJob,
    HistoricJob,
    Job,
    JobCancelled,
    JobState,
    ThreadContext,
)
from phi4studio.core.jobs.queue import JobQueue, default_capacities
from phi4studio.core.jobs.subprocess_job import SubprocessJob, kill_tree
from phi4studio.core.jobs.workers import worker_argv

__all__ = [
    "CoroutineJob",
    "ExecutorJob",
    "HistoricJob",
    "Job",
    "JobCancelled",
    "JobQueue",
    "JobState",
    "SubprocessJob",
    "ThreadContext",
    "default_capacities",
    "kill_tree",
    "worker_argv",
]
