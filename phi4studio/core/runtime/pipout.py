"""pip's output turned into progress, and its failures into messages a user can act on.

pip prints no machine-readable progress, but its lines are stable enough: "Collecting NAME"
while it resolves, "Downloading FILE (SIZE)" / "Processing FILE" / "Using cached FILE" per
wheel, then "Installing collected packages: a, b, c" and "Successfully installed ...".
Resolving and downloading take the first 70 % of a step (counted against the number of
packages the step is expected to collect), installing the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RESOLVE_SHARE = 0.7


@dataclass
class PipUpdate:
    fraction: float  # of this pip step, 0..1
    message: str


class PipProgress:
    """Feed pip's lines one at a time; `feed` returns an update when the line moved things."""

    def __init__(self, expected_packages: int = 40) -> None:
        self.expected = max(1, expected_packages)
        self.collected: list[str] = []
        self.installing: list[str] = []
        self.downloaded_mb = 0.0
        self.fraction = 0.0
        self.done = False

    def _set(self, fraction: float, message: str) -> PipUpdate:
        self.fraction = max(self.fraction, min(1.0, fraction))
        return PipUpdate(self.fraction, message)

    def _resolve_fraction(self) -> float:
        n = len(self.collected)
        # Approaches the share without reaching it while the real count is unknown.
        return RESOLVE_SHARE * min(0.97, n / max(self.expected, n + 1))

    def feed(self, line: str) -> PipUpdate | None:
        text = line.strip()
        if not text:
            return None
        m = re.match(r"Collecting (\S+)", text)
        if m:
            name = re.split(r"[<>=!~\[;(]", m.group(1))[0]
            self.collected.append(name)
            return self._set(self._resolve_fraction(),
                             f"resolving: {name} ({len(self.collected)} packages)")
        m = re.match(r"Downloading (\S+)(?: \((.+?)\))?", text)
        if m and not m.group(1).endswith(".metadata"):
            size = m.group(2) or ""
            self.downloaded_mb += _megabytes(size)
            return self._set(self._resolve_fraction(),
                             f"downloading {_short(m.group(1))}" + (f" ({size})" if size else ""))
        m = re.match(r"(Processing|Using cached) (\S+)", text)
        if m:
            return self._set(self._resolve_fraction(), f"{m.group(1).lower()} {_short(m.group(2))}")
        m = re.match(r"Installing collected packages: (.+)", text)
        if m:
            self.installing = [p.strip() for p in m.group(1).split(",") if p.strip()]
            n = len(self.installing)
            return self._set(RESOLVE_SHARE, f"installing {n} package{'s' * (n != 1)}")
        if text.startswith("Successfully installed"):
            self.done = True
            return self._set(1.0, "installed")
        if text.startswith("Requirement already satisfied") and not self.installing:
            return self._set(self._resolve_fraction(), "checking installed packages")
        return None


def _short(path_or_url: str) -> str:
    name = path_or_url.rstrip("/").rsplit("/", 1)[-1]
    return name.split("#", 1)[0]


def _megabytes(size: str) -> float:
    m = re.match(r"([\d.]+)\s*([kMG]?B)", size)
    if not m:
        return 0.0
    scale = {"B": 1e-6, "kB": 1e-3, "MB": 1.0, "GB": 1e3}[m.group(2)]
    return float(m.group(1)) * scale


# --- failures -------------------------------------------------------------------------------

NETWORK = (
    "Failed to establish a new connection", "Name or service not known",
    "Temporary failure in name resolution", "nodename nor servname", "getaddrinfo failed",
    "Connection refused", "ConnectTimeoutError", "Read timed out", "ProxyError",
    "Max retries exceeded", "Network is unreachable", "No route to host",
    "Could not fetch URL", "connection broken by", "SSLError", "CERTIFICATE_VERIFY_FAILED",
)
DISK = ("No space left on device", "[Errno 28]", "Disk quota exceeded", "[Errno 122]")
PERMISSION = ("Permission denied", "[Errno 13]", "Access is denied", "[WinError 5]")
NOT_FOUND = ("No matching distribution found", "Could not find a version that satisfies")
HASH = ("THESE PACKAGES DO NOT MATCH THE HASHES",)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


def classify_pip_failure(output: str, python_version: str = "", what: str = "packages"
                         ) -> Failure:
    """A pip failure as one of: disk_full, permission, no_network, not_available, corrupt,
    pip_failed; the message says what happened and what to do."""
    if any(s in output for s in DISK):
        return Failure("disk_full", f"The disk filled up while installing {what}. Free some "
                       "space (the runtime needs several GB) and press Retry.")
    if any(s in output for s in PERMISSION):
        path = _first_path(output)
        return Failure("permission", f"Permission denied while installing {what}"
                       + (f" ({path})" if path else "") + ". Choose a folder you can write to, "
                       "or repair the runtime.")
    if any(s in output for s in NETWORK):
        return Failure("no_network", f"Could not download {what}: the package index cannot be "
                       "reached. Check the network connection (and a proxy: HTTPS_PROXY, or "
                       "pip's configuration), then press Retry. What was already downloaded is "
                       "kept.")
    if any(s in output for s in HASH):
        return Failure("corrupt", f"A download of {what} arrived damaged. Press Retry.")
    if any(s in output for s in NOT_FOUND):
        req = re.search(r"No matching distribution found for (\S+)", output)
        name = req.group(1) if req else what
        py = f" for Python {python_version}" if python_version else ""
        return Failure("not_available", f"{name} is not available{py} on this platform from "
                       "the configured package index. Choose another Python (3.10 to 3.12 are "
                       "the safest) or check pip's index configuration, then press Retry.")
    tail = [ln for ln in output.strip().splitlines() if ln.strip()][-3:]
    return Failure("pip_failed", f"Installing {what} failed: " + " ".join(tail)[-400:])


def _first_path(output: str) -> str | None:
    m = re.search(r"Permission denied: '([^']+)'", output)
    return m.group(1) if m else None
