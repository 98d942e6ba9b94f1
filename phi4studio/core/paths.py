"""Where things live: platform folders for config, data and logs, and bundled resources.

`PHI4STUDIO_HOME` (an environment variable) puts config, data and logs under one folder: tests and
portable installs use it. Resource paths work from source and from a PyInstaller build.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from phi4studio import APP_ID


@dataclass(frozen=True)
class AppDirs:
    config: Path
    data: Path
    logs: Path

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def default_workspace(self) -> Path:
        return self.data / "workspace"


def app_dirs() -> AppDirs:
    home = os.environ.get("PHI4STUDIO_HOME")
    if home:
        base = Path(home)
        return AppDirs(config=base / "config", data=base / "data", logs=base / "logs")
    import platformdirs

    return AppDirs(
        config=Path(platformdirs.user_config_dir(APP_ID, appauthor=False)),
        data=Path(platformdirs.user_data_dir(APP_ID, appauthor=False)),
        logs=Path(platformdirs.user_log_dir(APP_ID, appauthor=False)),
    )


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resources_dir() -> Path:
    """The `resources/` folder: inside the bundle when frozen, at the repo root from source."""
    return bundle_dir() / "resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def bundle_dir() -> Path:
    """Where bundled files live: the PyInstaller bundle when frozen, the repo root from source."""
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    return Path(__file__).resolve().parents[2]


def training_scripts_dir() -> Path:
    """The standalone `training/` scripts, run as subprocesses by the training runtime."""
    return bundle_dir() / "training"


def requirements_dir() -> Path:
    """`requirements/`: the pins (constraints.txt) and the training runtime's package list."""
    return bundle_dir() / "requirements"


def app_install_dir() -> Path | None:
    """The folder of the frozen app's executable (None from source)."""
    return Path(sys.executable).resolve().parent if is_frozen() else None
