"""f(n, AMI, T) over the MTL rows of the paper's table with one engine: validation and bootstrap.

    python benchmarks/laws_f_all.py ENGINE BOOTSTRAP ['{"engine": "params"}']

Prints the run time, the reported formula and, per engine setting or law family,
in-sample R², grouped CV, the held-out split and extrapolation (R², RMSE, test sd)
in T > 5, n > 10000 and AMI > 0.7, and the bootstrap structure frequency.
"""

import json
import sys
import time

from mtllaws.regress import read_table, run_studies

t = read_table("../shared/data/paper/mtl_balanced.csv")
spec = {
    "name": "f_all",
    "features": ["n", "ami", "T"],
    "fixed": {"n_tasks": {"min": 2}},
    "extrapolate": {"T": 5, "n": 10000, "ami": 0.7},
}
eng = sys.argv[1]
B = int(sys.argv[2])
p = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
s = time.perf_counter()
r = run_studies(t, [spec], engine=eng, seeds=[0], target="fscore", bootstrap=B, n_jobs=2,
                engine_params=p, cv_repeats=3)[0]  # fmt: skip
print(eng, "wall", round(time.perf_counter() - s, 1))
print(r["variant"], r["formula_rounded"], r["validation"]["note"])
for v in r["variants"]:
    extrap = {k: (e["r2"], e["rmse"], e["test_std"]) for k, e in v["extrapolation"].items()}
    print(v["name"], v.get("in_sample_r2"), v["cv"], v["split"], extrap)
    b = v.get("bootstrap")
    if b:
        print("  boot", b["structure"], b["structure_frequency"], b["n_failed"])
