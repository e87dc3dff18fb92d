import gzip
import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "ratchet-0.3.2-golden.json.gz"


def pytest_configure(config):
    """Under CI (`RATCHET_EXPECT_INSTALLED`), fail at once unless `ratchet` is the installed
    package: the source tree's `python/ratchet` has no built extension on a clean clone."""
    if not os.environ.get("RATCHET_EXPECT_INSTALLED"):
        return
    import ratchet

    here = pathlib.Path(ratchet.__file__).resolve()
    source = (ROOT / "python" / "ratchet").resolve()
    if source in here.parents:
        raise pytest.UsageError(f"imported ratchet from the source tree ({here}), not the installed package")


@pytest.fixture(scope="session")
def golden():
    with gzip.open(GOLDEN, "rt") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def reference(golden):
    """The package loaded with the reference rule set, for bit-exact replay."""
    import ratchet

    ratchet.load(rules="ratchet-0.3.2")
    yield ratchet
    ratchet.load()
