"""SubprocessJob: runs a command that speaks the JSON-lines protocol.

- stdout and stderr are read by daemon threads and handed to the loop in batches (one callback per
  batch, however fast the child writes), with back-pressure past a bound: a flooding child slows
  down, the UI does not.
- Cancel escalates: `{"cmd": "cancel"}` on stdin, then terminate, then kill of the whole process
  tree (psutil; the same on Windows). No reliance on POSIX signals.
- The exit code decides success; a failure carries the last `error` event or the stderr tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from phi4studio.core.errors import JobError
from phi4studio.core.jobs.model import Job, JobCancelled
from phi4studio.core.jobs.protocol import encode, parse_event

MAX_LINE_BYTES = 1 << 20  # a longer line is split, never dropped
MAX_BUFFERED_LINES = 20_000  # per stream, before the reader stops reading (back-pressure)
MAX_BATCH_LINES = 500  # per loop callback: other events (repaints, timers) run in between
STDERR_TAIL = 40


def process_tree(pid: int) -> list[Any]:
    """The process and all its descendants (`psutil.Process` objects); [] when it is gone."""
    import psutil

    try:
        parent = psutil.Process(pid)
        return [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return []


def tree_running(procs: Iterable[Any]) -> bool:
    """Whether any of these processes still runs (a zombie does not)."""
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def kill_tree(pid: int, *, force: bool, known: Iterable[Any] = ()) -> None:
    """Terminate (or kill) a process and all its descendants; gone processes are ignored.

    `known`: processes from an earlier `process_tree(pid)`. Descendants orphaned since then are
    no longer found from `pid` (nor by its process group when they made their own session).
    """
    import psutil

    procs = set(known) | set(process_tree(pid))
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.kill() if force else p.terminate()
    if sys.platform != "win32":
        # The child leads its own session (start_new_session): its orphans stay in its group.
        import signal

        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL if force else signal.SIGTERM)


class _LineReader:
    """Reads a binary stream on a thread and delivers decoded lines to the loop in batches."""

    def __init__(
        self,
        stream: IO[bytes],
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[str]], None],
        name: str,
    ) -> None:
        self._stream = stream
        self._loop = loop
        self._deliver = deliver
        self._buf: list[str] = []
        self._cond = threading.Condition()
        self._scheduled = False
        self._eof = False
        self.finished: asyncio.Future[None] = loop.create_future()  # every line delivered
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                raw = self._stream.readline(MAX_LINE_BYTES)
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._cond:
                    while len(self._buf) >= MAX_BUFFERED_LINES:
                        self._cond.wait(0.5)
                    self._buf.append(line)
                    if not self._scheduled:
                        self._scheduled = True
                        self._post(self._flush)
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._eof = True
                if not self._scheduled:
                    self._scheduled = True
                    self._post(self._flush)

    def _post(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening any more
            self._loop.call_soon_threadsafe(fn)

    def _flush(self) -> None:
        with self._cond:
            items = self._buf[:MAX_BATCH_LINES]
            del self._buf[:MAX_BATCH_LINES]
            if self._buf:
                self._post(self._flush)  # the rest after whatever else is waiting on the loop
            else:
                self._scheduled = False
            done = self._eof and not self._buf
            self._cond.notify_all()
        try:
            if items:
                self._deliver(items)
        finally:
            if done:  # only after the last batch: the verdict must see every event
                self._set_finished()

    def _set_finished(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


class SubprocessJob(Job):
    kind = "subprocess"

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        cancel_grace_s: float = 20.0,
        terminate_grace_s: float = 5.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name, **kw)
        self.argv = [str(a) for a in argv]
        self.cwd = Path(cwd) if cwd else None
        self.env = dict(env) if env is not None else None
        self.cancel_grace_s = cancel_grace_s
        self.terminate_grace_s = terminate_grace_s
        self.on_event = on_event
        self.events_seen = 0
        self.start_info: dict[str, Any] | None = None
        self.metrics: list[dict[str, Any]] = []
        self.artifacts: list[dict[str, Any]] = []
        self.last_error: str | None = None
        self.returncode: int | None = None
        self.pid: int | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._proc: subprocess.Popen[bytes] | None = None
        self._exit: asyncio.Future[int] | None = None
        self._stdin_lock = threading.Lock()

    # --- running ----------------------------------------------------------------------------
    def _popen(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("PYTHONIOENCODING", "utf-8")
        kw: dict[str, Any] = {}
        if sys.platform == "win32":
            kw["creationflags"] = (
                subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined]
            )
        else:
            kw["start_new_session"] = True
        try:
            return subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # Buffered pipes: readline() on a raw one costs a system call per byte.
                # Commands are flushed as they are sent.
                bufsize=-1,
                **kw,
            )
        except OSError as exc:
            raise JobError(
                f"Could not start {self.argv[0]}: {exc.strerror or exc}",
                hint="Check that the program exists and is executable (see Help > Doctor).",
            ) from exc

    async def run(self) -> Any:
        loop = asyncio.get_running_loop()
        self.add_log("$ " + subprocess.list2cmdline(self.argv))
        proc = self._popen()
        self._proc = proc
        self.pid = proc.pid
        assert proc.stdout is not None and proc.stderr is not None
        out = _LineReader(proc.stdout, loop, self._on_stdout, f"job-{self.id}-stdout")
        err = _LineReader(proc.stderr, loop, self._on_stderr, f"job-{self.id}-stderr")
        self._exit = loop.create_future()
        exit_fut = self._exit

        def set_exit(rc: int) -> None:
            if not exit_fut.done():
                exit_fut.set_result(rc)

        def wait() -> None:
            rc = proc.wait()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(set_exit, rc)

        threading.Thread(target=wait, name=f"job-{self.id}-wait", daemon=True).start()
        try:
            rc = await asyncio.shield(exit_fut)
        except asyncio.CancelledError:
            # The task itself was cancelled: the queue's shutdown deadline has passed (a user's
            # cancel goes through on_cancel). No more grace periods: the tree goes now.
            kill_tree(proc.pid, force=True)
            raise
        # Children of the child may still hold the pipes open: don't wait on them for ever.
        done, _ = await asyncio.wait({out.finished, err.finished}, timeout=3.0)
        if len(done) < 2:
            kill_tree(proc.pid, force=True)
        self.returncode = rc
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self.cancel_requested:
            raise JobCancelled()
        if rc != 0:
            raise JobError(self._failure_message(rc))
        return self.result

    def _failure_message(self, rc: int) -> str:
        what = f"{self.name} exited with code {rc}"
        if self.last_error:
            return f"{what}: {self.last_error}"
        tail = [ln for ln in self.stderr_tail if ln.strip()][-8:]
        if tail:
            return what + "\n" + "\n".join(tail)
        return what + " (it printed nothing on stderr)"

    # --- output -----------------------------------------------------------------------------
    def _on_stdout(self, lines: list[str]) -> None:
        logs: list[str] = []
        for line in lines:
            ev = parse_event(line)
            if ev is None:
                logs.append(line)
                continue
            self.events_seen += 1
            text = self._handle_event(ev)
            if text is not None:
                logs.append(text)
        if logs:
            self.add_log_lines(logs)

    def _on_stderr(self, lines: list[str]) -> None:
        self.stderr_tail.extend(lines)
        self.add_log_lines(lines)

    def _handle_event(self, ev: dict[str, Any]) -> str | None:
        """Apply one event; return text for the log, if any."""
        t = ev["type"]
        text: str | None = None
        if t == "start":
            self.start_info = ev
            self.set_message(str(ev.get("message") or "started"))
        elif t == "progress":
            step, total = ev.get("step"), ev.get("total")
            frac = ev.get("fraction")
            if frac is None and isinstance(step, (int, float)) and isinstance(total, (int, float)):
                frac = step / total if total else None
            msg = ev.get("message")
            if msg is None and step is not None:
                msg = f"step {step}/{total}" if total else f"step {step}"
                if isinstance(ev.get("loss"), (int, float)):
                    msg += f" · loss {ev['loss']:.4f}"
            eta = ev.get("eta_s")
            self.set_progress(
                frac if isinstance(frac, (int, float)) else None,
                str(msg) if msg is not None else None,
                float(eta) if isinstance(eta, (int, float)) else None,
            )
        elif t == "log":
            text = str(ev.get("message", ""))
        elif t in ("metric", "eval"):
            self.metrics.append(ev)
        elif t == "artifact":
            self.artifacts.append(ev)
            text = f"artifact: {ev.get('path', '')}"
        elif t == "result":
            self.result = ev.get("data", {k: v for k, v in ev.items() if k not in ("v", "type")})
            if ev.get("message"):
                self.set_message(str(ev["message"]))
        elif t == "error":
            self.last_error = str(ev.get("message") or "unknown error")
            text = f"ERROR: {self.last_error}"
        if self.on_event is not None:
            self.on_event(ev)
        return text

    # --- commands and cancel ----------------------------------------------------------------
    def send(self, command: dict[str, Any]) -> bool:
        """Write one JSON-line command to the child's stdin; False if it can't be delivered."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return False
        try:
            with self._stdin_lock:
                proc.stdin.write((encode(command) + "\n").encode())
                proc.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    async def on_cancel(self, task: asyncio.Task[Any]) -> None:
        if self._proc is None:  # not started yet
            task.cancel()
            return
        await self._escalate()

    async def _escalate(self) -> None:
        proc, exit_fut = self._proc, self._exit
        if proc is None or exit_fut is None:
            return
        # Note the tree while the child lives: once it exits, its children are orphans that
        # nothing links to it any more, and the escalation must reach them too.
        tree = process_tree(proc.pid)
        if self.send({"cmd": "cancel"}):
            self.add_log("cancel requested: waiting for the process to stop cleanly")
            if await self._exited_within(self.cancel_grace_s):
                tree += process_tree(proc.pid)
                if not tree_running(tree):
                    return
                self.add_log("it left child processes running: terminating the process tree")
            else:
                self.add_log(
                    f"no exit after {self.cancel_grace_s:g} s: terminating the process tree"
                )
        tree += process_tree(proc.pid)
        kill_tree(proc.pid, force=False, known=tree)
        if await self._stopped_within(tree, self.terminate_grace_s):
            return
        self.add_log("still running: killing the process tree")
        kill_tree(proc.pid, force=True, known=tree)
        await self._stopped_within(tree, self.terminate_grace_s)

    async def _exited_within(self, seconds: float) -> bool:
        assert self._exit is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._exit), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def _stopped_within(self, tree: list[Any], seconds: float) -> bool:
        """The child exited and every process of `tree` is gone, within `seconds`."""
        deadline = time.monotonic() + seconds
        if not await self._exited_within(seconds):
            return False
        while tree_running(tree):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True
