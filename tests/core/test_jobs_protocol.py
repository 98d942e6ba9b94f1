"""The JSON-lines protocol (both sides) and the batching line reader, without processes."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time

import pytest

from phi4studio.core.jobs.protocol import PROTOCOL_VERSION, CommandReader, Emitter, parse_event
from phi4studio.core.jobs.subprocess_job import (
    MAX_BATCH_LINES,
    MAX_BUFFERED_LINES,
    MAX_LINE_BYTES,
    _LineReader,
)


@pytest.mark.parametrize(
    "line",
    [
        '{"v": 1, "type": "progress", "step": 3}',
        '  {"v":1,"type":"done"}  \r',
        '{"v": 1, "type": "log", "message": "{nested}"}',
    ],
)
def test_parse_event_accepts_protocol_lines(line: str) -> None:
    ev = parse_event(line)
    assert ev is not None and ev["v"] == PROTOCOL_VERSION and isinstance(ev["type"], str)


@pytest.mark.parametrize(
    "line",
    [
        "plain text",
        "",
        "{not json}",
        '{"type": "progress"}',  # no version
        '{"v": 2, "type": "progress"}',  # another version
        '{"v": 1, "type": 5}',
        '{"v": 1}',
        '[{"v": 1, "type": "done"}]',
        '"{\\"v\\": 1}"',
        '{"v": 1, "type": "progress"} trailing',
    ],
)
def test_parse_event_leaves_everything_else_as_log_text(line: str) -> None:
    assert parse_event(line) is None


def test_emitter_writes_whole_lines_from_many_threads() -> None:
    buf = io.StringIO()
    emit = Emitter(buf)

    def spam(n: int) -> None:
        for i in range(200):
            emit("metric", thread=n, i=i, text="ünï\ncode")

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 800
    events = [parse_event(ln) for ln in lines]
    assert all(e is not None and e["type"] == "metric" for e in events)
    assert {(e["thread"], e["i"]) for e in events if e} == {
        (n, i) for n in range(4) for i in range(200)
    }


def test_command_reader_sets_cancel_and_passes_other_commands() -> None:
    r_fd, w_fd = os.pipe()
    got: list[dict[str, object]] = []
    with open(r_fd, encoding="utf-8") as rd, open(w_fd, "w", encoding="utf-8") as wr:
        reader = CommandReader(rd, on_command=got.append).start()
        wr.write('{"cmd": "generate", "prompt": "hi"}\nnot json\n[1]\n')
        wr.flush()
        time.sleep(0.05)
        assert not reader.cancelled.is_set()
        wr.write('{"cmd": "cancel"}\n')
        wr.flush()
        assert reader.cancelled.wait(2)
        assert not reader.stdin_closed.is_set()
    assert reader.stdin_closed.wait(2)
    assert got == [{"cmd": "generate", "prompt": "hi"}]


def test_command_reader_treats_closed_stdin_as_cancel() -> None:
    reader = CommandReader(io.StringIO("")).start()
    assert reader.stdin_closed.wait(2) and reader.cancelled.is_set()


async def _read_all(data: bytes) -> tuple[list[list[str]], _LineReader]:
    batches: list[list[str]] = []
    reader = _LineReader(io.BytesIO(data), asyncio.get_running_loop(), batches.append, "test")
    await asyncio.wait_for(reader.finished, 10)
    return batches, reader


async def test_finished_means_every_line_was_delivered() -> None:
    n = 5 * MAX_BATCH_LINES + 7
    batches, _ = await _read_all(b"".join(b"line %d\n" % i for i in range(n)))
    lines = [ln for b in batches for ln in b]
    assert lines == [f"line {i}" for i in range(n)]
    assert all(len(b) <= MAX_BATCH_LINES for b in batches) and len(batches) >= 6


async def test_reader_decodes_and_splits_safely() -> None:
    long = b"y" * (MAX_LINE_BYTES + 10)
    batches, _ = await _read_all(b"caf\xc3\xa9\r\n\xff\xfe\n" + long + b"\nno newline at end")
    lines = [ln for b in batches for ln in b]
    assert lines[0] == "café"
    assert lines[1] == "\ufffd\ufffd"
    assert lines[2:4] == ["y" * MAX_LINE_BYTES, "y" * 10]
    assert lines[4] == "no newline at end"


async def test_reader_applies_back_pressure_when_the_loop_is_busy() -> None:
    n = MAX_BUFFERED_LINES * 2
    batches: list[list[str]] = []
    data = b"".join(b"%d\n" % i for i in range(n))
    reader = _LineReader(io.BytesIO(data), asyncio.get_running_loop(), batches.append, "test")
    time.sleep(0.3)  # the loop is blocked: nothing is delivered, the reader must stop reading
    assert len(reader._buf) <= MAX_BUFFERED_LINES
    await asyncio.wait_for(reader.finished, 10)
    assert [int(x) for b in batches for x in b] == list(range(n))


async def test_a_raising_consumer_still_finishes_the_reader() -> None:
    loop = asyncio.get_running_loop()
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))

    def deliver(lines: list[str]) -> None:
        raise RuntimeError("consumer bug")

    reader = _LineReader(io.BytesIO(b"a\nb\n"), loop, deliver, "test")
    await asyncio.wait_for(reader.finished, 5)
    assert errors and isinstance(errors[0], RuntimeError)
