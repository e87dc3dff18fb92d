"""Golden replay through the Python API under the `ratchet-0.3.2` rules: every case of each
function the package exposes, compared exactly (binary64 equality, like the Rust replay)."""

import collections
import dataclasses
import math

import pytest

import ratchet
from ratchet import _core, _types


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k != "__type__"}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


def same(want, got, path=""):
    """Exact comparison; ints and floats by value; returns a difference or None."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in want:
            if k not in got:
                return f"{path}.{k}: missing"
            d = same(want[k], got[k], f"{path}.{k}")
            if d:
                return d
        extra = set(got) - set(want)
        return f"{path}: unexpected {sorted(extra)}" if extra else None
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"{path}: length {len(got)}, want {len(want)}"
        for i, (a, b) in enumerate(zip(want, got)):
            d = same(a, b, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(want, bool) or isinstance(got, bool):
        return None if want is got or want == got and type(want) is type(got) else f"{path}: {got!r}, want {want!r}"
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if want == got or (isinstance(want, float) and math.isnan(want) and math.isnan(got)):
            return None
        return f"{path}: {got!r}, want {want!r}"
    return None if want == got else f"{path}: {got!r}, want {want!r}"


def fields(obj):
    """A result object's reference fields (no extensions) and its type name."""
    out = {f.name: _core.to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "extensions"}
    return out


class Hw:
    """Golden hardware ids built through the Python API from their construction recipes."""

    def __init__(self, golden):
        self.g = golden
        self.cache = {}

    def __call__(self, hid):
        if hid not in self.cache:
            self.cache[hid] = self.build(self.g["hardware"][hid]["construction"])
        return self.cache[hid]

    def build(self, c):
        k = c["kind"]
        if k == "canonical":
            return ratchet.TIERS[c["tier"]]
        if k == "hw_with_memory":
            return ratchet.hw_with_memory(self.base(c["base"]), c["mem_type"], c["mem_data_rate_gtps"], c["name_suffix"])
        if k == "hw_with_memory_twice":
            f, s = c["first"], c["second"]
            once = ratchet.hw_with_memory(self.base(c["base"]), f[0], f[1], f[2])
            return ratchet.hw_with_memory(once, s[0], s[1], s[2])
        if k == "make_custom_tier":
            return ratchet.make_custom_tier(**c["kwargs"])
        if k == "override":
            kw = {x: strip(c[x]) for x in ("measured_llm", "measured_perception") if x in c}
            return dataclasses.replace(self.base(c["base"]), **kw)
        raise AssertionError(k)

    def base(self, b):
        return ratchet.TIERS[b] if isinstance(b, str) else self.build(b)


def models(golden):
    return {k: _types.model(strip(v["fields"])) for k, v in golden["models"].items()}


# how many golden cases of each function the replays below have taken (the last test of the
# file checks that every case of the golden file was taken)
SERVED = collections.Counter()


def cases(golden, fn):
    cs = [c for c in golden["cases"] if c["fn"] == fn]
    SERVED[fn] += len(cs)
    return cs


def test_every_golden_tier_builds_through_the_api(reference, golden):
    hw = Hw(golden)
    failures = []
    for hid, entry in golden["hardware"].items():
        got = _core.to_json(hw(hid))
        # the measured cost model's extension fields (a fit, and the class and runtime it
        # was taken for); the reference rules never read them
        for k in ("llm_calibration", "runtime", "silicon_class", "memory_sharing", "published_peaks"):
            got.pop(k, None)
        for row in (got.get("capability_levels") or {}).values():
            row.pop("via_dtype", None)
        d = same(strip(entry["fields"]), got, hid)
        if d:
            failures.append(d)
        if got["mem_bandwidth_gbs"] * got["bandwidth_efficiency"] != entry["derived"]["effective_bandwidth_gbs"]:
            failures.append(f"{hid}: effective bandwidth")
    assert not failures, failures[:10]
    assert len(golden["hardware"]) == 123


def test_project_llm_every_case(reference, golden):
    hw = Hw(golden)
    ms = models(golden)
    cs = cases(golden, "project_llm")
    assert len(cs) == 27696
    reqs = []
    for c in cs:
        i = c["inputs"]
        r = dict(model=ms[i["model"]], hw=hw(i["hw"]), workload_id=i["workload_id"],
                 prompt_tokens=i["prompt_tokens"], decode_tokens=i["decode_tokens"])
        r.update(i["options"])
        reqs.append(r)
    got = ratchet.project_llm_many(reqs)
    failures = []
    for c, g in zip(cs, got):
        want = c["output"]
        if "error" in want:
            if not (isinstance(g, Exception) and type(g).__name__ == want["error"]["type"]):
                failures.append(f"{c['id']}: {g!r}, want {want['error']}")
            continue
        if isinstance(g, Exception):
            failures.append(f"{c['id']}: raised {g!r}")
            continue
        w = dict(want)
        ty = w.pop("type")
        if type(g).__name__ != ty:
            failures.append(f"{c['id']}: {type(g).__name__}, want {ty}")
            continue
        d = same(w, fields(g), c["id"])
        if d:
            failures.append(d)
    assert not failures, f"{len(failures)} failures: {failures[:10]}"
    # and one by one through the single-call API, on a sample
    for c in cs[::997]:
        i = c["inputs"]
        one = ratchet.project_llm(ms[i["model"]], hw(i["hw"]), i["workload_id"], i["prompt_tokens"],
                                  i["decode_tokens"], **i["options"])
        assert type(one).__name__ == c["output"]["type"], c["id"]


def test_memory_feasibility_and_kv(reference, golden):
    hw = Hw(golden)
    ms = models(golden)
    failures = []
    for c in cases(golden, "memory_feasibility"):
        i = c["inputs"]
        f = ratchet.memory_feasibility(ms[i["model"]], hw(i["hw"]), i["context_tokens"])
        d = same(strip(c["output"]), fields(f), c["id"])
        if d:
            failures.append(d)
    for c in cases(golden, "kv_cache_bytes_per_token"):
        i = c["inputs"]
        got = ratchet.kv_cache_bytes_per_token(ms[i["model"]], i["dtype_bytes"])
        if got != c["output"]:
            failures.append(f"{c['id']}: {got} want {c['output']}")
    assert not failures, failures[:10]


HW_OPS = [
    ("hw_supports_dtype", lambda h, i: ratchet.hw_supports_dtype(h, i["dtype"])),
    ("hw_supports_dtype_via_key", lambda h, i: ratchet.hw_supports_dtype_via_key(h, i["cap_key"])),
    ("hw_peak_tops_for_dtype", lambda h, i: ratchet.hw_peak_tops_for_dtype(h, i["dtype"])),
    ("Hardware.effective_tops", lambda h, i: h.effective_tops(i["dtype"])),
    (
        "deployment_path_for_tier",
        lambda h, i: ratchet.deployment_path_for_tier(h, i["dtype"], i["workload_kernel_source"], i["fp4_runtime_maturity"]),
    ),
]


@pytest.mark.parametrize("fn,call", HW_OPS, ids=[x[0] for x in HW_OPS])
def test_tier_operations(reference, golden, fn, call):
    hw = Hw(golden)
    failures = []
    cs = cases(golden, fn)
    assert cs
    for c in cs:
        got = call(hw(c["inputs"]["hw"]), c["inputs"])
        d = same(c["output"], got, c["id"])
        if d:
            failures.append(d)
    assert not failures, f"{len(failures)} of {len(cs)}: {failures[:10]}"


SCALAR_OPS = [
    ("quant_scheme_capability_key", lambda i: ratchet.quant_scheme_capability_key(i["quant_scheme"])),
    ("is_fp4_compute_dtype", lambda i: ratchet.is_fp4_compute_dtype(i["dtype"])),
    ("effective_compute_dtype", lambda i: ratchet.effective_compute_dtype(i["dtype"], i["fp4_runtime_maturity"])),
    (
        "resolve_floor_dtype",
        lambda i: ratchet.resolve_floor_dtype(i["npu_precision_set"], i["model_compute_dtype"], i["fp4_runtime_maturity"]),
    ),
    # the reference answers the catalog entry; its golden file records the entry's key
    ("lookup_model", lambda i: getattr(ratchet.lookup_model(i["key"], i.get("catalog", "REFERENCE_MODELS")), "key", None)),
]


@pytest.mark.parametrize("fn,call", SCALAR_OPS, ids=[x[0] for x in SCALAR_OPS])
def test_scalar_operations(reference, golden, fn, call):
    failures = []
    cs = cases(golden, fn)
    assert cs
    for c in cs:
        got = call(c["inputs"])
        d = same(c["output"], got, c["id"])
        if d:
            failures.append(d)
    assert not failures, f"{len(failures)} of {len(cs)}: {failures[:10]}"


def test_make_custom_tier_and_its_errors(reference, golden):
    failures = []
    for c in cases(golden, "make_custom_tier"):
        want = c["output"]
        try:
            got = ratchet.make_custom_tier(**c["inputs"]["kwargs"])
        except (ValueError, KeyError) as e:
            if "error" not in want or type(e).__name__ != want["error"]["type"]:
                failures.append(f"{c['id']}: raised {e!r}, want {want}")
            continue
        if "error" in want:
            failures.append(f"{c['id']}: no error, want {want['error']}")
            continue
        j = _core.to_json(got)
        j.pop("llm_calibration", None)
        for row in (j.get("capability_levels") or {}).values():
            row.pop("via_dtype", None)
        d = same(strip(golden["hardware"][want["hw"]]["fields"]), j, c["id"])
        if d:
            failures.append(d)
    assert not failures, failures[:10]


def _obj(cls, d):
    d = strip(d)
    if cls is _types.SolverConvergenceAnchor:
        d["solve_ms"] = _types.LatencyDistribution(**d["solve_ms"])
    return cls(**d)


def test_workload_patterns_and_cpu_projections(reference, golden):
    failures = []
    for c in cases(golden, "apply_workload_pattern"):
        i = c["inputs"]
        base = _types.projection(dict(i["base_result"]))
        got = ratchet.apply_workload_pattern(base, _obj(ratchet.WorkloadPatternMultipliers, i["multipliers"]))
        w = dict(c["output"])
        w.pop("type", None)
        d = same(w, fields(got), c["id"])
        if d:
            failures.append(d)
    for fn, call, key in [
        ("project_frame_latency", ratchet.project_frame_latency, ("baseline", _types.LatencyDistribution)),
        ("project_solver_convergence", ratchet.project_solver_convergence, ("anchor", _types.SolverConvergenceAnchor)),
    ]:
        for c in cases(golden, fn):
            i = c["inputs"]
            want = c["output"]
            try:
                got = call(_obj(key[1], i[key[0]]), i["speedup"])
            except ValueError as e:
                if "error" not in want or want["error"]["type"] != "ValueError":
                    failures.append(f"{c['id']}: raised {e}")
                continue
            if "error" in want:
                failures.append(f"{c['id']}: no error, want {want['error']}")
                continue
            d = same(strip(want), fields(got), c["id"])
            if d:
                failures.append(d)
    assert not failures, f"{len(failures)}: {failures[:10]}"


def test_calibration_sources_and_measurement_keys(reference, golden):
    failures = []
    for c in cases(golden, "CalibrationSource"):
        i, want = c["inputs"], c["output"]
        try:
            got = ratchet.CalibrationSource(i["method"], i["reference"], i["confidence"])
        except ValueError as e:
            if "error" not in want:
                failures.append(f"{c['id']}: raised {e}")
            continue
        if "error" in want:
            failures.append(f"{c['id']}: no error, want {want['error']}")
        elif dataclasses.asdict(got) != strip(want):
            failures.append(f"{c['id']}: {got}")
    ms = models(golden)
    for c in cases(golden, "resolve_measurement_key"):
        got = ratchet.resolve_measurement_key(ms[c["inputs"]["model"]])
        if got != c["output"]:
            failures.append(f"{c['id']}: {got!r}, want {c['output']!r}")
    assert not failures, failures[:10]


def test_anchors(reference, golden):
    from conftest import ROOT

    failures = []
    hw = Hw(golden)
    for c in cases(golden, "hw_to_anchor_tier_precision"):
        i = c["inputs"]
        got = ratchet.hw_to_anchor_tier_precision(hw(i["hw"]), i["capability_key"])
        want = None if c["output"] is None else tuple(c["output"])
        if got != want:
            failures.append(f"{c['id']}: {got!r}, want {want!r}")
    anchored = [c for c in cases(golden, "load_llm_anchor") + cases(golden, "load_cnn_anchor")]
    for secrets in (None, "anchor_secrets.toml"):
        ratchet.load(rules="ratchet-0.3.2", anchors=(ROOT / "tests" / "golden" / secrets) if secrets else None)
        for c in (c for c in anchored if c["inputs"]["secrets"] == secrets):
            i = c["inputs"]
            if c["fn"] == "load_llm_anchor":
                got = ratchet.load_llm_anchor(i["tier"], i["precision"], i["model_key"])
            else:
                got = ratchet.load_cnn_anchor(i["tier"], i["precision"], i["cnn_key"])
            want = c["output"]
            g = None if got is None else dataclasses.asdict(got)
            d = same(strip(want), g, c["id"]) if want is not None else (None if g is None else f"{c['id']}: {g}")
            if d:
                failures.append(d)
    ratchet.load(rules="ratchet-0.3.2")
    assert not failures, f"{len(failures)}: {failures[:10]}"


def test_overlay_llm_anchor(reference, golden):
    from conftest import ROOT

    hw = Hw(golden)
    ms = models(golden)
    failures = []
    cs = cases(golden, "overlay_llm_anchor")
    assert len(cs) == 2112
    for secrets in (None, "anchor_secrets.toml"):
        ratchet.load(rules="ratchet-0.3.2", anchors=(ROOT / "tests" / "golden" / secrets) if secrets else None)
        for c in (c for c in cs if c["inputs"]["secrets"] == secrets):
            i = c["inputs"]
            base = _types.projection(dict(i["base_result"]))
            spec = i["catalog_to_spec_key"]
            mapping = {"identity": None, "none": {}, "map": spec.get("map")}[spec["kind"]]
            got = ratchet.overlay_llm_anchor(base, hw(i["hw"]), ms[i["model"]], mapping, i["decode_mult"], i["ttft_mult"])
            want = dict(c["output"])
            unchanged = want.pop("unchanged_identity", False)
            want.pop("type", None)
            if unchanged and got is not base:
                failures.append(f"{c['id']}: should be the input result itself")
            d = same(want, fields(got), c["id"])
            if d:
                failures.append(d)
    ratchet.load(rules="ratchet-0.3.2")
    assert not failures, f"{len(failures)}: {failures[:10]}"


def test_perception_anchors(reference, golden):
    hw = Hw(golden)
    failures = []
    for c in cases(golden, "Hardware.get_perception_anchor"):
        i = c["inputs"]
        got = hw(i["hw"]).get_perception_anchor(i["workload_class"])
        got = None if got is None else _core.to_json(got)
        d = same(strip(c["output"]), got, c["id"]) if c["output"] is not None else (None if got is None else c["id"])
        if d:
            failures.append(d)
    assert not failures, failures[:10]


def test_tables_under_the_reference_names(reference, golden):
    t = golden["tables"]
    for name in [
        "DTYPE_ATTR_MAP",
        "QUANT_SCHEME_CAPABILITY_KEY",
        "BYTES_PER_PARAM",
        "GGUF_SIZE_GB",
        "PRECISION_SET_COMPUTE_DTYPE",
        "PRECISION_SET_CAPABILITY",
        "PRECISION_SET_ZEROED_PEAK_TOPS",
        "SILICON_CLASS_DEFAULTS",
        "BADGE_FOR_SOURCE",
    ]:
        assert same(t[name], getattr(ratchet, name), name) is None, name
    assert ratchet.ACTIVE_PARAMS == t["ACTIVE_PARAMS"]
    assert [list(o) for o in ratchet.MEMORY_UPGRADE_OPTIONS] == t["MEMORY_UPGRADE_OPTIONS"]
    for name, rows in t["capability_tables"].items():
        got = {k: {"level": v.level, "reason": v.reason} for k, v in getattr(ratchet, name).items()}
        assert got == rows and list(got) == list(rows), name
    assert list(ratchet.TIERS) == t["tier_order"]
    assert list(ratchet.REFERENCE_MODELS) == t["reference_model_order"]
    assert [c.value for c in ratchet.SiliconClass] == list(t["SILICON_CLASS_DEFAULTS"])
    assert [r.value for r in ratchet.NpuPrecisionSet] == list(t["PRECISION_SET_COMPUTE_DTYPE"])
    for name, lv in t["CapabilityLevel"].items():
        assert bool(ratchet.CapabilityLevel[name]) is lv["bool"] and ratchet.CapabilityLevel[name].value == lv["value"]


def test_public_api(golden):
    api = golden["tables"]["public_api"]
    assert len(api) == 73
    missing = {n for n in api if not hasattr(ratchet, n)}
    assert not missing, sorted(missing)
    assert set(api) <= set(ratchet.__all__) | {"__version__"}


def test_anchor_methods(golden):
    from conftest import ROOT

    ratchet.load(rules="ratchet-0.3.2", anchors=ROOT / "tests" / "golden" / "anchor_secrets.toml")
    failures = []
    try:
        for fn, loader, key in (
            ("LLMAnchor.methods", ratchet.load_llm_anchor, "model_key"),
            ("CNNAnchor.methods", ratchet.load_cnn_anchor, "cnn_key"),
        ):
            cs = cases(golden, fn)
            assert cs
            for c in cs:
                i = c["inputs"]
                if "anchor" in i:  # an anchor built by hand (tokps 0: no anchor file allows it)
                    a = ratchet.LLMAnchor(**strip(i["anchor"]))
                else:
                    assert i["secrets"] == "anchor_secrets.toml"
                    a = loader(i["tier"], i["precision"], i[key])
                share = i["share_override"]
                got = {"badge": a.badge, "achieved_bw_gbps": a.achieved_bw_gbps(share)}
                if fn == "LLMAnchor.methods":
                    got["bytes_per_token"] = a.bytes_per_token(share)
                    # a user-built anchor with the same fields answers the same
                    again = ratchet.LLMAnchor(**dataclasses.asdict(a))
                    if again.bytes_per_token(share) != got["bytes_per_token"]:
                        failures.append(f"{c['id']}: a rebuilt anchor differs")
                d = same(c["output"], got, c["id"])
                if d:
                    failures.append(d)
    finally:
        ratchet.load(rules="ratchet-0.3.2")
    assert not failures, f"{len(failures)}: {failures[:10]}"


# ---- the sizing engine, sliders and the what-if runner, built from the golden whatif_spec


def _spec_sliders(spec):
    from ratchet.whatif import Slider, SliderAction

    out = []
    for d in spec["sliders"]:
        act = SliderAction(d["apply_op"], d["apply_target"], d["apply_path"]) if d["apply_op"] else None
        out.append(
            Slider(
                name=d["name"],
                description=d.get("description", d["name"]),
                category=d["category"],
                units=d["units"],
                default=d["default"],
                min_val=d["min_val"],
                max_val=d["max_val"],
                step=d["step"],
                apply=act,
            )
        )
    return out


def _demand_obj(d):
    return ratchet.SubsystemDemand(**strip(d))


def _evaluate(profile, workload):
    from ratchet.engine import cpu_kpis, llm_demand, memory_bw_kpi, memory_capacity_kpi, npu_kpis

    w = workload["perception"]
    demands = [
        llm_demand(profile, workload),
        ratchet.SubsystemDemand(
            name="perception",
            target_engine="npu",
            tops_required=w["tops"],
            memory_bw_gbps=w["bw_gbps"],
            memory_capacity_mb=w["mem_mb"],
        ),
        ratchet.SubsystemDemand(
            name="control",
            target_engine="cpu",
            cpu_cores_required=w["cores"],
            memory_bw_gbps=1.0,
            memory_capacity_mb=256.0,
        ),
    ]
    return (
        npu_kpis(profile, demands)
        + cpu_kpis(profile, demands)
        + [memory_bw_kpi(profile, demands), memory_capacity_kpi(profile, demands)]
    )


def _runner(spec):
    import copy

    return ratchet.WhatifRunner(
        _spec_sliders(spec),
        _evaluate,
        lambda: spec["default_workload"],
        lambda name: copy.deepcopy(spec["profiles"][name]),
    )


def _plain(v):
    """Result objects as the golden file writes them (``emoji`` included for KPIs)."""
    if isinstance(v, ratchet.KpiResult):
        d = fields(v)
        d["emoji"] = v.emoji
        return d
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _sizing_call(golden, fn, i):
    import copy

    from ratchet import engine as E
    from ratchet import whatif as W

    spec = golden["whatif_spec"]
    if fn == "evaluate_budget":
        return E.evaluate_budget(**i)
    if fn in ("npu_kpis", "cpu_kpis", "memory_bw_kpi", "memory_capacity_kpi"):
        return getattr(E, fn)(i["profile"], [_demand_obj(d) for d in i["demands"]])
    if fn == "chip_summary":
        return E.chip_summary([ratchet.KpiResult(**{k: v for k, v in strip(x).items() if k != "emoji"}) for x in i["kpis"]])
    if fn == "vpu_pixel_rate_kpi":
        return E.vpu_pixel_rate_kpi(**i)
    if fn == "eff_tops":
        return E.eff_tops(i["profile_npu"], i["precision"])
    if fn == "llm_demand":
        return E.llm_demand(i["profile"], i["workload"])
    sliders = _spec_sliders(spec)
    by = {s.name: s for s in sliders}
    if fn == "Slider.clamp":
        return by[i["slider"]].clamp(i["value"])
    if fn == "default_values":
        return ratchet.default_values(sliders)
    if fn == "slider_categories":
        return {k: [s.name for s in v] for k, v in W.slider_categories(sliders).items()}
    if fn == "apply_sliders":
        profile = copy.deepcopy(spec["profiles"][i["profile"]])
        workload = copy.deepcopy(spec[i["workload"]])
        ratchet.apply_sliders(sliders, profile, workload, i["values"])
        return {"profile": profile, "workload": workload}
    if fn == "_set_path":
        d = copy.deepcopy(i["d"])
        W._set_path(d, i["path"], i["value"])
        return d
    if fn == "_scale_path":
        d = copy.deepcopy(i["d"])
        W._scale_path(d, i["path"], i["factor"])
        return d
    r = _runner(spec)
    if fn == "WhatifRunner.point":
        return r.point(i["profile"], i["overrides"])
    if fn == "WhatifRunner.sweep":
        return r.sweep(i["profile"], i["slider"], i["steps"], i["base_overrides"])
    if fn == "WhatifRunner.pareto":
        return r.pareto(i["profile"], i["x"], i["y"], i["steps_x"], i["steps_y"], i["base_overrides"])
    raise AssertionError(fn)


SIZING_FNS = [
    "evaluate_budget",
    "npu_kpis",
    "cpu_kpis",
    "memory_bw_kpi",
    "memory_capacity_kpi",
    "chip_summary",
    "vpu_pixel_rate_kpi",
    "eff_tops",
    "llm_demand",
    "Slider.clamp",
    "default_values",
    "slider_categories",
    "apply_sliders",
    "_set_path",
    "_scale_path",
    "WhatifRunner.point",
    "WhatifRunner.sweep",
    "WhatifRunner.pareto",
]


@pytest.mark.parametrize("fn", SIZING_FNS)
def test_sizing_and_whatif(reference, golden, fn):
    failures = []
    cs = cases(golden, fn)
    assert cs, fn
    for c in cs:
        want = c["output"]
        err = want.get("error") if isinstance(want, dict) else None
        try:
            got = _plain(_sizing_call(golden, fn, c["inputs"]))
        except (KeyError, ValueError) as e:
            if err is None:
                failures.append(f"{c['id']}: raised {e!r}")
            elif type(e).__name__ != err["type"] or str(e) != err["message"]:
                failures.append(f"{c['id']}: {type(e).__name__}: {e}, want {err}")
            continue
        if err is not None:
            failures.append(f"{c['id']}: no error, want {err}")
            continue
        d = same(strip(want), got, c["id"])
        if d:
            failures.append(d)
    assert not failures, f"{len(failures)} of {len(cs)}: {failures[:5]}"


def test_project_llm_columns_matches_project_llm(reference, golden):
    """The columnar batch answers every golden project_llm case as project_llm does."""
    ms = models(golden)
    hw = Hw(golden)
    cs = cases(golden, "project_llm")
    args = {k: [] for k in ("model", "hw", "workload_id", "prompt_tokens", "decode_tokens", "host_ms",
                            "compiler_quality", "npu_share", "fp4_runtime_maturity")}
    for c in cs:
        i = c["inputs"]
        args["model"].append(ms[i["model"]])
        args["hw"].append(hw(i["hw"]))
        args["workload_id"].append(i["workload_id"])
        args["prompt_tokens"].append(i["prompt_tokens"])
        args["decode_tokens"].append(i["decode_tokens"])
        for k in ("host_ms", "compiler_quality", "npu_share", "fp4_runtime_maturity"):
            args[k].append(i["options"].get(k))
    cols = ratchet.project_llm_columns(**args)
    assert all(len(v) == len(cs) for v in cols.values())
    failures = []
    for j, c in enumerate(cs):
        want = c["output"]
        err = want.get("error")
        if err:
            kind = {"ValueError": "invalid_value", "KeyError": "unknown_key"}[err["type"]]
            if cols["type"][j] != kind:
                failures.append(f"{c['id']}: {cols['type'][j]}, want {kind}")
            continue
        want_type = want["type"]
        if cols["type"][j] != want_type:
            failures.append(f"{c['id']}: {cols['type'][j]}, want {want_type}")
        elif want_type == "Projected":
            for k in ("decode_tok_s", "prefill_tok_s", "ttft_s", "decode_s", "prefill_s", "total_s", "host_ms",
                      "source", "regime", "decode_ceiling_tok_s"):
                if cols[k][j] != want[k]:
                    failures.append(f"{c['id']}.{k}: {cols[k][j]!r}, want {want[k]!r}")
        elif want_type == "WontFit":
            if (cols["required_gb"][j], cols["available_gb"][j]) != (want["required_gb"], want["available_gb"]):
                failures.append(f"{c['id']}: memory figures differ")
        elif cols["required_dtype"][j] != want["required_dtype"] or cols["retargeting_hint"][j] != want["retargeting_hint"]:
            failures.append(f"{c['id']}: dtype figures differ")
    assert not failures, f"{len(failures)} of {len(cs)}: {failures[:5]}"
    # one value for every row, and lists that do not agree
    one = ratchet.project_llm_columns("qwen25_7b_dense", ["NPU Mid", "NPU High"], "chat", 500, 200)
    assert one["type"] == ["Projected", "Projected"] and one["error"] == [None, None]
    bad = ratchet.project_llm_columns("qwen25_7b_dense", ["NPU Mid", "NPU Mdi"], host_ms=[float("nan"), 1.0])
    assert bad["type"] == ["invalid_value", "unknown_key"], bad["type"]
    assert "did you mean" in bad["error"][1]
    with pytest.raises(ValueError, match="differ in length"):
        ratchet.project_llm_columns(["qwen25_7b_dense"], ["NPU Mid", "NPU High"])


def test_every_golden_case_is_replayed(golden, request):
    """Every case of every function of the golden file was taken by a replay above (this test
    is last in the file, so it runs after them)."""
    cfg = request.config
    if cfg.getoption("keyword") or cfg.getoption("markexpr") or any("::" in str(a) for a in cfg.args):
        pytest.skip("only a selection of the tests ran")
    want = collections.Counter(c["fn"] for c in golden["cases"])
    short = {fn: (SERVED[fn], n) for fn, n in want.items() if SERVED[fn] < n}
    assert not short, f"golden functions not (fully) replayed, (taken, in the file): {short}"
