import os

import torch
from hypothesis import HealthCheck, settings

# derandomize: hypothesis examples are a fixed function of the test, so the suite is never flaky
settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    max_examples=int(os.environ.get("NEON_HYPOTHESIS_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")
torch.set_num_threads(min(2, torch.get_num_threads()))
