import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from neon_theory.device import resolve_device

# derandomize: hypothesis examples are a fixed function of the test, so the suite is never flaky
settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    max_examples=int(os.environ.get("NEON_HYPOTHESIS_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")
# one torch thread a pytest-xdist worker (the workers share the cores), else at most two
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))

#: NEON_TEST_DEVICE=cuda (cuda:N, mps, auto) runs the same suite with that device as torch's default
#: device, so the tensors and modules every test creates live there; cpu (the default) changes nothing.
TEST_DEVICE = os.environ.get("NEON_TEST_DEVICE") or "cpu"


def pytest_configure(config):
    if TEST_DEVICE == "cpu":
        return
    try:
        device = resolve_device(TEST_DEVICE)
    except ValueError as e:  # a GPU run that silently fell back to the CPU would prove nothing: stop
        pytest.exit(f"NEON_TEST_DEVICE={TEST_DEVICE!r} cannot be used: {e}", returncode=pytest.ExitCode.USAGE_ERROR)
    torch.set_default_device(device)


def pytest_report_header(config):
    return f"test device: {torch.get_default_device()} (NEON_TEST_DEVICE={TEST_DEVICE})"


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The device this session runs on (NEON_TEST_DEVICE; cpu by default)."""
    return torch.get_default_device()
