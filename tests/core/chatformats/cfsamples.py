"""Canonical examples covering the scenarios every chat format must round-trip."""

from __future__ import annotations

import copy
from typing import Any

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
CALENDAR = {
    "name": "create_event",
    "description": "Create a calendar event.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "when": {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    "minutes": {"type": "integer", "minimum": 1},
                },
                "required": ["start"],
            },
            "attendees": {"type": "array", "items": {"type": "string"}},
            "reminders": {
                "type": "array",
                "items": {"type": "object", "properties": {"before_min": {"type": "integer"}}},
            },
        },
        "required": ["title", "when"],
    },
}
NOARGS = {"name": "list_files", "description": "List the files.", "inputSchema": {
    "type": "object", "properties": {}}}
TOOLS = [WEATHER, CALENDAR, NOARGS]


def _ex(ex_id: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
        scenario: str = "single") -> dict[str, Any]:
    return {"id": ex_id, "messages": messages, "tools": copy.deepcopy(tools or TOOLS),
            "scenario": scenario, "source": "test", "split": None, "tags": [], "notes": ""}


SINGLE = _ex("single", [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
])

PARALLEL = _ex("parallel", [
    {"role": "user", "content": "Weather in Oslo and in Lima, in fahrenheit please."},
    {"role": "assistant", "content": "Checking both cities.", "tool_calls": [
        {"id": "a", "name": "get_weather", "arguments": {"city": "Oslo", "unit": "fahrenheit"}},
        {"id": "b", "name": "get_weather", "arguments": {"city": "Lima", "unit": "fahrenheit"}},
    ]},
    {"role": "tool", "tool_call_id": "a", "name": "get_weather", "content": '{"temp_f": 28}'},
    {"role": "tool", "tool_call_id": "b", "content": '{"temp_f": 71}'},
    {"role": "assistant", "content": "Oslo is 28°F and Lima is 71°F."},
], scenario="parallel")

MULTI_TURN = _ex("multi", [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Book a meeting with Ana tomorrow at 9."},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "x1", "name": "create_event",
     "arguments": {"title": "Meeting with Ana",
                   "when": {"start": "2025-03-02T09:00:00", "minutes": 30},
                   "attendees": ["ana@example.com"],
                   "reminders": [{"before_min": 10}, {"before_min": 60}]}}]},
    {"role": "tool", "tool_call_id": "x1", "content": "created: evt_42"},
    {"role": "assistant", "content": "Booked (evt_42)."},
    {"role": "user", "content": "And list my files."},
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "x2", "name": "list_files", "arguments": {}}]},
    {"role": "tool", "tool_call_id": "x2", "content": "[]"},
    {"role": "assistant", "content": "You have no files."},
], scenario="multi_turn")

NO_CALL = _ex("irrelevant", [
    {"role": "user", "content": "Tell me a joke."},
    {"role": "assistant", "content": "Why did the tomato blush? It saw the salad dressing."},
], scenario="irrelevance")

UNICODE = _ex("unicode", [
    {"role": "system", "content": "Réponds en français. 日本語もOK 🙂"},
    {"role": "user", "content": "Météo à Zürich ? \"quotes\" and \\backslashes\\"},
    {"role": "assistant", "content": "Je regarde… 🌦", "tool_calls": [
        {"id": "u1", "name": "get_weather",
         "arguments": {"city": "Zürich \"Altstadt\" \\ 東京 🌧", "unit": "celsius"}}]},
    {"role": "tool", "tool_call_id": "u1", "content": "{\"temp\": -3, \"desc\": \"neige ❄\"}"},
    {"role": "assistant", "content": "Il fait -3 °C, neige ❄."},
])

NO_TOOLS = {"id": "plain", "messages": [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
], "tools": []}

ALL = [SINGLE, PARALLEL, MULTI_TURN, NO_CALL, UNICODE, NO_TOOLS]


def assistant_messages(example: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in example["messages"] if m["role"] == "assistant"]


def expected_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": c["name"], "arguments": c["arguments"]}
            for c in message.get("tool_calls") or []]
