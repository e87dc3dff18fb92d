#!/usr/bin/env python3
"""Licence gate: every crate in the dependency graph must be under a permissive licence.

Reads `cargo metadata` and evaluates each package's SPDX expression: `A OR B` passes when
either side is allowed, `A AND B` when both are. Copyleft licences (GPL, LGPL, AGPL, MPL,
EPL, CDDL, ...) are not on the allow-list, so they fail. evalexpr must stay at 11.3.1 (its
last MIT release; later versions are AGPL).
"""
import json, re, subprocess, sys

ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Zlib", "Unicode-3.0", "Unicode-DFS-2016", "CC0-1.0", "Unlicense", "BSL-1.0", "0BSD",
    "CDLA-Permissive-2.0", "NCSA",
}

def tokens(expr):
    return re.findall(r"\(|\)|[A-Za-z0-9.\-+]+(?: WITH [A-Za-z0-9.\-]+)?", expr.replace("/", " OR "))

def parse(toks):
    def atom(i):
        if toks[i] == "(":
            v, i = disj(i + 1)
            return v, i + 1
        t = toks[i]
        return (t.rstrip("+") in ALLOWED or t in ALLOWED), i + 1
    def conj(i):
        v, i = atom(i)
        while i < len(toks) and toks[i] == "AND":
            w, i = atom(i + 1)
            v = v and w
        return v, i
    def disj(i):
        v, i = conj(i)
        while i < len(toks) and toks[i] == "OR":
            w, i = conj(i + 1)
            v = v or w
        return v, i
    return disj(0)[0]

def check(meta):
    """The offending packages of a `cargo metadata` document, as lines of text."""
    members = set(meta.get("workspace_members", []))
    bad = []
    for p in meta["packages"]:
        if p["id"] in members:
            continue  # this workspace's own crates
        lic = p.get("license")
        if not lic:
            bad.append(f"{p['name']} {p['version']}: no licence expression")
        elif not parse(tokens(lic)):
            bad.append(f"{p['name']} {p['version']}: {lic}")
        if p["name"] == "evalexpr" and p["version"] != "11.3.1":
            bad.append(f"evalexpr {p['version']}: must stay at 11.3.1 (12+ is AGPL)")
    return bad

def main(argv):
    # `--metadata FILE` checks a saved `cargo metadata` document (the dry run in
    # tests/data/licence-gate shows the gate failing on copyleft); otherwise this workspace.
    # `--manifest-path M` checks another workspace (the fuzz crate's).
    if len(argv) == 2 and argv[0] == "--metadata":
        with open(argv[1]) as f:
            meta = json.load(f)
    else:
        cmd = ["cargo", "metadata", "--format-version", "1", "--locked"]
        if len(argv) == 2 and argv[0] == "--manifest-path":
            cmd += ["--manifest-path", argv[1]]
        meta = json.loads(subprocess.check_output(cmd))
    bad = check(meta)
    if bad:
        print("licence check failed:\n  " + "\n  ".join(bad))
        return 1
    members = set(meta.get("workspace_members", []))
    print(f"licence check: {sum(1 for p in meta['packages'] if p['id'] not in members)} dependencies, all permissive")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
