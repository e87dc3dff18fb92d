import gzip
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "ratchet-0.3.2-golden.json.gz"


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
