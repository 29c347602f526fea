"""Workspace-wide pytest setup: DDS isolation between concurrent test runs, the LeRobot reference."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["lerobot_ros_bringup.testing.fixtures"]

WORKSPACE = Path(__file__).resolve().parent
REFERENCE_PYTHON = WORKSPACE / ".venv-lerobot" / "bin" / "python"

# ROS 2 domain ids usable on Linux without port clashes.
_DOMAIN_IDS = range(1, 102)


def _claim_domain_id() -> tuple[int, object]:
    """Reserve a ROS_DOMAIN_ID no other test run on this machine holds (a lock file per id)."""
    lock_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "lerobot_ros_domains"
    lock_dir.mkdir(exist_ok=True)
    start = os.getpid() % len(_DOMAIN_IDS)
    for offset in range(len(_DOMAIN_IDS)):
        domain_id = _DOMAIN_IDS[(start + offset) % len(_DOMAIN_IDS)]
        handle = (lock_dir / f"{domain_id}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return domain_id, handle
    raise RuntimeError("no free ROS_DOMAIN_ID: more than 100 concurrent test runs?")


def pytest_configure(config: pytest.Config) -> None:
    """Give this test run a DDS domain of its own, visible to the node processes it starts."""
    if "LEROBOT_ROS_TEST_DOMAIN_LOCK" in os.environ:
        return
    domain_id, handle = _claim_domain_id()
    config._lerobot_ros_domain_lock = handle  # held until the process exits
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["LEROBOT_ROS_TEST_DOMAIN_LOCK"] = str(domain_id)


@pytest.fixture(scope="session")
def reference_python() -> Path:
    """Python of the LeRobot 0.4.4 reference venv, to run the oracle in a subprocess."""
    if not REFERENCE_PYTHON.exists():
        pytest.fail("LeRobot reference venv missing: run `scripts/setup.sh --with-reference` (make test does)")
    return REFERENCE_PYTHON


@pytest.fixture(scope="session")
def run_reference(reference_python: Path) -> Iterator:
    """Run a Python snippet in the reference venv; returns the CompletedProcess, fails with its output."""

    def run(code: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON"))}
        env["HF_HUB_OFFLINE"] = "1"
        env.pop("VIRTUAL_ENV", None)
        result = subprocess.run(
            [str(reference_python), "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"reference run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    yield run
