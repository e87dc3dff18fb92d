"""project_llm calls per second from Python: one call at a time, and the batch API.

    python python/bench/bench_project.py [--seconds 3]

Workload: the golden file's project_llm grid (3 reference models x 9 canonical tiers x 4
workloads x 6 token pairs x 6 option sets), cycled; the reference rule set (`ratchet-0.3.2`)
so the work is the reference's. Prints the median of five runs of each.
"""

import argparse
import itertools
import statistics
import time

import ratchet


def grid():
    models = list(ratchet.REFERENCE_MODELS.values())
    tiers = list(ratchet.TIERS.values())
    pairs = [(500, 200), (4800, 400), (1000, 100), (32768, 1024), (0, 50), (128, 0)]
    workloads = ["rag_qa", "chat", "plain_chat", "w"]
    options = [{}, {"compiler_quality": 0.8}, {"npu_share": 0.5}, {"host_ms": 5.0}, {"fp4_runtime_maturity": "immature"}]
    out = []
    for m, t, w, (p, d), o in itertools.product(models, tiers, workloads, pairs, options):
        out.append(dict(model=m, hw=t, workload_id=w, prompt_tokens=p, decode_tokens=d, **o))
    return out


def rate(fn, n):
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    a = ap.parse_args()
    ratchet.load(rules="ratchet-0.3.2")
    reqs = grid()
    reqs = (reqs * (a.calls // len(reqs) + 1))[: a.calls]

    def single():
        for r in reqs:
            ratchet.project_llm(**r)

    def batch():
        ratchet.project_llm_many(reqs)

    # by name: the registry tier and the catalog model, no objects to serialise
    named = [dict(r, model=r["model"].key, hw=r["hw"].name) for r in reqs]

    def batch_named():
        ratchet.project_llm_many(named)

    keys = ("model", "hw", "workload_id", "prompt_tokens", "decode_tokens", "host_ms", "compiler_quality",
            "npu_share", "fp4_runtime_maturity")
    cols = {k: [r.get(k) for r in reqs] for k in keys}
    cols_named = {k: [r.get(k) for r in named] for k in keys}

    def columns():
        ratchet.project_llm_columns(**cols)

    def columns_named():
        ratchet.project_llm_columns(**cols_named)

    for name, fn in [("project_llm, one call each", single), ("project_llm_many (objects)", batch),
                     ("project_llm_many (names)", batch_named), ("project_llm_columns (objects)", columns),
                     ("project_llm_columns (names)", columns_named)]:
        runs = [rate(fn, len(reqs)) for _ in range(5)]
        print(f"{name}: {statistics.median(runs):,.0f} calls/s (median of 5, {len(reqs)} calls each)")


if __name__ == "__main__":
    main()
