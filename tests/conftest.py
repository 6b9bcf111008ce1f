# gevent must patch the standard library before anything imports ssl or socket (notes/locust.md 11).
from gevent import monkey

monkey.patch_all()

from collections.abc import Iterator  # noqa: E402

import locust  # noqa: E402, F401  (after patching, as Locust itself expects)
import pytest  # noqa: E402

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth  # noqa: E402


@pytest.fixture(scope="session")
def groundtruth() -> Iterator[GroundTruth]:
    """The ground-truth streaming server: 200 ms TTFT, 20 ms ITL, model name "groundtruth"."""
    with running_groundtruth("--ttft-ms", "200", "--itl-ms", "20") as server:
        yield server
