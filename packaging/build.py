#!/usr/bin/env python3
"""Build the one-folder app (dist/phi4studio/) and its installer for one inference flavour.

    python3 packaging/build.py --flavour cpu          # Linux: also dist/phi4studio-*.tar.gz
    python3 packaging/build.py --flavour cuda         # NVIDIA (onnxruntime-genai-cuda)
    py -3.11 packaging\\build.py --flavour directml   # Windows: also the Inno Setup installer

Steps: (1) a build environment `build/venv-<flavour>` WITHOUT torch: the app's dependencies,
the chosen onnxruntime-genai package, the few libraries the app imports in-process
(packaging/requirements-frozen.txt) and PyInstaller; pinned by requirements/constraints.txt,
rebuilt only when those files change. (2) PyInstaller on packaging/phi4studio.spec. (3) a check
that the frozen app starts (`phi4studio --version`). (4) the package: on Linux a tarball with a
.desktop file, on Windows the Inno Setup installer when `iscc` is on PATH. (5) sizes and
durations in dist/build-report-<flavour>.json.

Standard library only; run it with the Python the app should carry (3.10+, built with a shared
libpython, which python.org, Debian and pyenv builds are).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
FROZEN_REQS = PACKAGING / "requirements-frozen.txt"
PYINSTALLER = "pyinstaller==6.22.3"
EXTRAS = {"cpu": "cpu", "cuda": "cuda", "directml": "directml"}
WIN = sys.platform == "win32"


def say(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if WIN else "bin/python")


def fingerprint(flavour: str) -> str:
    h = hashlib.sha256()
    for f in (ROOT / "pyproject.toml", CONSTRAINTS, FROZEN_REQS):
        h.update(f.read_bytes())
    h.update(f"{sys.version}|{flavour}|{PYINSTALLER}".encode())
    return h.hexdigest()


def ensure_build_env(env: Path, flavour: str) -> Path:
    py = venv_python(env)
    stamp = env / ".phi4studio-build-env"
    want = fingerprint(flavour)
    if py.exists() and stamp.exists() and stamp.read_text().strip() == want:
        say(f"build environment {env} is up to date")
        return py
    if env.exists():
        shutil.rmtree(env)
    say(f"creating the build environment {env} (no torch)")
    venv.EnvBuilder(with_pip=True).create(env)
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
           "-c", str(CONSTRAINTS), f"{ROOT}[{EXTRAS[flavour]}]", "-r", str(FROZEN_REQS),
           PYINSTALLER]
    run(cmd)
    out = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], text=True,
                         capture_output=True, check=True).stdout
    leaked = [ln for ln in out.splitlines() if ln.lower().startswith(("torch==", "transformers=="))]
    if leaked:
        raise SystemExit(f"the build environment must not hold the training stack: {leaked}")
    stamp.write_text(want)
    return py


def run(cmd: list[str], **kw: object) -> None:
    say("$ " + " ".join(cmd))
    rc = subprocess.call(cmd, cwd=ROOT, **kw)  # type: ignore[arg-type]
    if rc != 0:
        raise SystemExit(f"failed ({rc}): {' '.join(cmd)}")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def add_linux_files(app: Path) -> None:
    for name in ("phi4studio.desktop", "phi4studio.svg", "install-desktop-entry.sh"):
        shutil.copy2(PACKAGING / "linux" / name, app / name)
    (app / "install-desktop-entry.sh").chmod(0o755)


def tarball(app: Path, dist: Path, flavour: str, version: str) -> Path:
    out = dist / f"phi4studio-{version}-linux-x86_64-{flavour}.tar.gz"
    say(f"writing {out.name}")
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(app, arcname="phi4studio")
    return out


def inno_setup(dist: Path, flavour: str, version: str) -> Path | None:
    iscc = shutil.which("iscc") or shutil.which("ISCC.exe")
    script = PACKAGING / "phi4studio.iss"
    args = [f"/DAppVersion={version}", f"/DFlavour={flavour}", f"/DSourceDir={dist / 'phi4studio'}",
            f"/O{dist}", str(script)]
    if iscc is None:
        say("Inno Setup (iscc) is not on PATH; the installer would be: iscc " + " ".join(args))
        return None
    run([iscc, *args])
    return dist / f"phi4studio-{version}-windows-x64-{flavour}-setup.exe"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flavour", choices=sorted(EXTRAS), default="cpu",
                    help="inference flavour: which onnxruntime-genai package goes in (cpu)")
    ap.add_argument("--venv", type=Path, help="build environment (build/venv-FLAVOUR)")
    ap.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (dist/)")
    ap.add_argument("--no-package", action="store_true", help="skip the tarball / installer")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    env = args.venv or ROOT / "build" / f"venv-{args.flavour}"
    py = ensure_build_env(env, args.flavour)
    t_env = time.monotonic() - t0

    dist: Path = args.dist.resolve()
    work = ROOT / "build" / f"pyinstaller-{args.flavour}"
    t1 = time.monotonic()
    run([str(py), "-m", "PyInstaller", str(PACKAGING / "phi4studio.spec"), "--noconfirm",
         "--log-level", "WARN", "--distpath", str(dist), "--workpath", str(work),
         "--", "--flavour", args.flavour])
    t_freeze = time.monotonic() - t1
    app = dist / "phi4studio"
    exe = app / ("phi4studio-cli.exe" if WIN else "phi4studio")
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             timeout=120, check=True).stdout.strip()
    say(f"frozen app answers: {version}")
    app_version = version.split()[-1]
    if not WIN:
        add_linux_files(app)
    size = folder_size(app)
    package: Path | None = None
    if not args.no_package:
        package = (inno_setup(dist, args.flavour, app_version) if WIN
                   else tarball(app, dist, args.flavour, app_version))
    report = {
        "flavour": args.flavour,
        "app_version": app_version,
        "folder": str(app),
        "folder_bytes": size,
        "files": sum(1 for f in app.rglob("*") if f.is_file()),
        "package": str(package) if package else None,
        "package_bytes": package.stat().st_size if package and package.exists() else None,
        "env_s": round(t_env, 1),
        "pyinstaller_s": round(t_freeze, 1),
        "total_s": round(time.monotonic() - t0, 1),
    }
    (dist / f"build-report-{args.flavour}.json").write_text(json.dumps(report, indent=2))
    say(f"{app}: {size / 1e6:.0f} MB in {report['files']} files"
        + (f"; {package.name}: {report['package_bytes'] / 1e6:.0f} MB" if package and
           report["package_bytes"] else "")
        + f"; {report['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
