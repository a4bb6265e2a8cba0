"""Does today's code file an experiment under the hash of results computed before?

Issue 16's check that new settings with neutral defaults (:data:`mtllaws.grid.HASH_NEUTRAL`)
left the config hash alone, without rerunning the workflow::

    python benchmarks/config_hash.py OLD/results/quick/runs.parquet [--config FILE ...]

Reads the config files as the workflow does (``config/config.yaml`` first, then any
``--configfile``: protocol, schema defaults, config checks), computes the hash of the
experiment named in the table's ``experiment`` column and compares it with the table's
``config_hash`` column. Prints both and exits 1 when they differ, 0 when they are equal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from mtllaws.config_check import check_config
from mtllaws.grid import config_hash
from mtllaws.progress import load_config

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="a runs.parquet computed before")
    parser.add_argument(
        "--config", nargs="+", default=[str(ROOT / "config" / "config.yaml")],
        help="config files, in the workflow's order (default: config/config.yaml)",
    )
    args = parser.parse_args(argv)
    runs = pd.read_parquet(args.runs, columns=["experiment", "config_hash"])
    (experiment,) = runs["experiment"].unique()
    recorded = sorted(runs["config_hash"].unique())
    config = load_config(args.config, schema=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    config["run"] = [experiment]
    now = config_hash(check_config(config, root=ROOT)[experiment])
    print(f"{experiment}: recorded {', '.join(recorded)}; today's code {now}")
    return 0 if recorded == [now] else 1


if __name__ == "__main__":
    sys.exit(main())
