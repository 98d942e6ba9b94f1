"""pip's output as progress events, and its failures as messages that say what to do."""

# ruff: noqa: E501 - pip's own lines, as it prints them

from __future__ import annotations

from phi4studio.core.runtime.pipout import PipProgress, classify_pip_failure

PIP_OUTPUT = """\
Looking in indexes: https://pypi.org/simple, https://download.pytorch.org/whl/cpu
Collecting torch==2.13.0
  Downloading https://download.pytorch.org/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-linux.whl (190.4 MB)
Collecting filelock (from torch==2.13.0)
  Using cached filelock-3.20.0-py3-none-any.whl.metadata (2.1 kB)
Collecting sympy>=1.13.3 (from torch==2.13.0)
  Downloading sympy-1.14.0-py3-none-any.whl (6.3 MB)
Processing /opt/wheels/networkx-3.5-py3-none-any.whl
Requirement already satisfied: typing-extensions in ./lib/python3.11/site-packages
Installing collected packages: mpmath, sympy, networkx, filelock, torch
Successfully installed filelock-3.20.0 mpmath-1.3.0 networkx-3.5 sympy-1.14.0 torch-2.13.0+cpu
"""


def test_progress_rises_through_resolve_download_and_install() -> None:
    p = PipProgress(expected_packages=5)
    updates = [u for u in map(p.feed, PIP_OUTPUT.splitlines()) if u is not None]
    fractions = [u.fraction for u in updates]
    assert fractions == sorted(fractions)  # never goes back
    assert fractions[-1] == 1.0 and p.done
    msgs = [u.message for u in updates]
    assert msgs[0] == "resolving: torch (1 packages)"
    assert any(m.startswith("downloading torch-2.13.0") and "(190.4 MB)" in m for m in msgs)
    assert "installing 5 packages" in msgs
    assert p.collected == ["torch", "filelock", "sympy"]
    assert round(p.downloaded_mb, 1) == 196.7
    before_install = fractions[msgs.index("installing 5 packages") - 1]
    assert before_install < 0.7  # resolving never claims the install share


def test_unknown_lines_move_nothing() -> None:
    p = PipProgress()
    assert p.feed("") is None
    assert p.feed("WARNING: something odd") is None
    assert p.fraction == 0.0


def test_more_packages_than_expected_never_reach_the_install_share() -> None:
    p = PipProgress(expected_packages=2)
    for i in range(50):
        p.feed(f"Collecting pkg{i}")
    assert 0.6 < p.fraction < 0.7


NO_NETWORK = """\
WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused')': /simple/torch/
ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: none)
ERROR: No matching distribution found for torch==2.13.0
"""


def test_failures_are_named_with_what_to_do() -> None:
    f = classify_pip_failure(NO_NETWORK, "3.11", "torch")
    assert f.code == "no_network"
    assert "cannot be reached" in f.message and "Retry" in f.message
    f = classify_pip_failure("ERROR: Could not install packages due to an OSError: [Errno 28] "
                             "No space left on device")
    assert f.code == "disk_full" and "Free some space" in f.message
    f = classify_pip_failure("ERROR: Could not install packages due to an OSError: [Errno 13] "
                             "Permission denied: '/opt/rt/lib/x.py'")
    assert f.code == "permission" and "/opt/rt/lib/x.py" in f.message
    f = classify_pip_failure(NO_NETWORK.splitlines()[1] + "\n" + NO_NETWORK.splitlines()[2],
                             "3.14", "torch")
    assert f.code == "not_available"
    assert "torch==2.13.0 is not available for Python 3.14" in f.message
    f = classify_pip_failure("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS")
    assert f.code == "corrupt"
    f = classify_pip_failure("something\nERROR: it broke\n")
    assert f.code == "pip_failed" and "it broke" in f.message
