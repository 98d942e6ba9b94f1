"""API errors in the shape of the API being spoken.

OpenAI:    HTTP status + {"error": {"message", "type", "param", "code"}}
Anthropic: HTTP status + {"type": "error", "error": {"type", "message"}}

Queue full: OpenAI 429 `rate_limit_exceeded` (code `queue_full`), Anthropic 529
`overloaded_error`; both with a `retry-after` header.
"""

from __future__ import annotations

from typing import Any, Literal

Api = Literal["openai", "anthropic"]
Kind = Literal["invalid_request", "authentication", "permission", "not_found", "too_large",
               "overloaded", "internal", "unavailable"]

# kind -> (OpenAI status, OpenAI type, Anthropic status, Anthropic type)
_SHAPES: dict[str, tuple[int, str, int, str]] = {
    "invalid_request": (400, "invalid_request_error", 400, "invalid_request_error"),
    "authentication": (401, "invalid_request_error", 401, "authentication_error"),
    "permission": (403, "invalid_request_error", 403, "permission_error"),
    "not_found": (404, "invalid_request_error", 404, "not_found_error"),
    "too_large": (413, "invalid_request_error", 413, "request_too_large"),
    "overloaded": (429, "rate_limit_exceeded", 529, "overloaded_error"),
    "internal": (500, "server_error", 500, "api_error"),
    "unavailable": (503, "server_error", 500, "api_error"),
}

RETRY_AFTER_S = 1


class ApiError(Exception):
    """A request the server refuses or could not serve; rendered per API by `body()`."""

    def __init__(self, kind: Kind, message: str, *, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.param = param
        self.code = code

    def status(self, api: Api) -> int:
        o_status, _, a_status, _ = _SHAPES[self.kind]
        return a_status if api == "anthropic" else o_status

    def body(self, api: Api) -> dict[str, Any]:
        _, o_type, _, a_type = _SHAPES[self.kind]
        if api == "anthropic":
            return {"type": "error", "error": {"type": a_type, "message": self.message}}
        return {"error": {"message": self.message, "type": o_type, "param": self.param,
                          "code": self.code}}

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(RETRY_AFTER_S)} if self.kind == "overloaded" else {}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError("invalid_request", message, param=param, code=code)


def unsupported(param: str, why: str = "") -> ApiError:
    extra = f": {why}" if why else ""
    return ApiError("invalid_request", f"'{param}' is not supported by this server{extra}",
                    param=param, code="unsupported_parameter")
