"""Command-line interface: ``mtllaws <subcommand> ...``.

Subcommands live in :data:`SUBCOMMANDS`. To add one, write ``configure(parser)``
(adds the arguments to an :class:`argparse.ArgumentParser`) and ``run(args) -> int``
(imports what it needs lazily, so ``mtllaws --help`` stays fast) and call
:func:`register` with a :class:`Subcommand`. A ``ValueError`` or ``OSError``
raised by ``run`` is printed as ``mtllaws <name>: error: <message>`` with exit
status 2.

``mtllaws regress`` runs the symbolic-regression stage (:mod:`mtllaws.regress`)
on a CSV or Parquet table::

    mtllaws regress ../shared/data/paper/mtl_balanced.csv --features n,ami,T \\
        --engine sparse --seeds 0,1,2 --out f_all.json --plot f_all
    mtllaws regress summary.parquet --studies paper_balanced --engine gplearn \\
        --out-dir results/regress --markdown table.md --latex table.tex
    mtllaws regress summary.parquet --features n,T --measures ami,model_sim,cov_rv \\
        --engine law --out-dir results/compare   # a compare_features study: the ΔR² table

``mtllaws effects`` prints an experiment's measured effects (:mod:`mtllaws.effects`)::

    mtllaws effects results/quick --acceptance
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BUILTIN", "SUBCOMMANDS", "Subcommand", "build_parser", "main", "register"]


@dataclass(frozen=True)
class Subcommand:
    """A subcommand of ``mtllaws``.

    Parameters
    ----------
    name : str
    help : str
        One line for ``mtllaws --help``.
    configure : callable
        ``configure(parser)`` adds the subcommand's arguments.
    run : callable
        ``run(args) -> int`` does the work and returns the exit status.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Registered subcommands by name.
SUBCOMMANDS: dict[str, Subcommand] = {}


def register(subcommand: Subcommand) -> Subcommand:
    """Add a subcommand to :data:`SUBCOMMANDS` (an existing name is an error)."""
    if subcommand.name in SUBCOMMANDS:
        raise ValueError(f"subcommand {subcommand.name!r} is registered twice")
    SUBCOMMANDS[subcommand.name] = subcommand
    return subcommand


def build_parser() -> argparse.ArgumentParser:
    """The ``mtllaws`` parser with one subparser per registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="mtllaws", description="Find the laws of multitask learning by experiment."
    )
    from mtllaws import __version__

    parser.add_argument("--version", action="version", version=f"mtllaws {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in SUBCOMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        p.add_argument(
            "-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)"
        )
        command.configure(p)
        p.set_defaults(_subcommand=command)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``mtllaws`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Subcommand = args._subcommand
    level = (
        logging.WARNING
        if args.verbose == 0
        else logging.INFO
        if args.verbose == 1
        else logging.DEBUG
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(command.run(args) or 0)
    except (ValueError, OSError) as err:
        print(f"mtllaws {command.name}: error: {err}", file=sys.stderr)
        return 2


# ----------------------------------------------------------------- regress
def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds is empty; give e.g. 0,1,2")
    return seeds


def _key_values(pairs, option: str) -> dict:
    """Parse ``KEY=VALUE`` items (each may hold several, comma-separated for --fixed)."""
    import yaml

    out = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} {item!r}: write KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _configure_regress(p: argparse.ArgumentParser) -> None:
    from mtllaws.regress import DEFAULTS, ENGINES

    p.add_argument("table", help="results table: .csv, .tsv, .parquet or .pq")
    what = p.add_argument_group("study (one study, or --studies for several)")
    what.add_argument(
        "--features",
        default="n,ami,T",
        help="comma-separated feature columns or aliases (n, ami, T, n_ner, n_syn); "
        "default: n,ami,T",
    )
    what.add_argument(
        "--target",
        default=DEFAULTS["target"],
        help=f"target column or alias (f1 = test_f1_mean or fscore; default {DEFAULTS['target']})",
    )
    what.add_argument(
        "--fixed",
        action="append",
        metavar="COLUMN=VALUE",
        help="hold a column at a reference value (repeatable; also COLUMN=VALUE,COLUMN=VALUE)",
    )
    what.add_argument("--name", help="study name (default f_<features>)")
    what.add_argument(
        "--measures",
        help="a compare_features study: comma-separated relatedness measures (aliases or "
        "columns), each added to --features in turn, fitted on the same configurations and "
        "folds; prints the ΔR² table against the first (and writes compare_features.md/.json "
        "into --out-dir)",
    )
    what.add_argument(
        "--studies",
        metavar="FILE|paper_balanced",
        help="YAML/JSON file with a list of studies, or a workflow config with --experiment; "
        "paper_balanced: f(n), f(AMI), f(T), f(n, AMI, T) on the paper's table",
    )
    what.add_argument("--experiment", help="experiment whose 'studies' to take from --studies")
    what.add_argument(
        "--min-rows",
        type=int,
        default=DEFAULTS["min_rows"],
        help=f"fewest rows a study may have (default {DEFAULTS['min_rows']})",
    )
    fit = p.add_argument_group("fitting")
    fit.add_argument(
        "--engine",
        choices=tuple(ENGINES),
        default=DEFAULTS["engine"],
        help="; ".join(f"{name}: {spec['help']}" for name, spec in ENGINES.items())
        + f" (default {DEFAULTS['engine']})",
    )
    fit.add_argument(
        "--family",
        action="append",
        help="law engine: fit only this family of mtllaws.law.FAMILIES (repeatable)",
    )
    fit.add_argument(
        "--extrapolate",
        action="append",
        metavar="COLUMN=THRESHOLD",
        help="also fit on COLUMN <= THRESHOLD and score above it (repeatable)",
    )
    def with_default(flag: str, key: str, text: str, **kwargs) -> None:
        value = DEFAULTS[key]
        if isinstance(value, tuple):  # seeds: a list, shown comma-separated
            value, shown = list(value), ",".join(map(str, value))
        else:
            shown = value
        fit.add_argument(flag, default=value, help=f"{text} (default {shown})", **kwargs)

    with_default("--cv", "cv", "grouped K-fold CV folds", type=int)
    with_default("--cv-repeats", "cv_repeats", "CV repeats", type=int)
    with_default(
        "--bootstrap", "bootstrap", "bootstrap resamples of the configurations per engine; 0: none",
        type=int,
    )  # fmt: skip
    with_default("--seeds", "seeds", "comma-separated seeds", type=_seeds)
    with_default("--scale", "scale", "target multiplier while fitting, the paper's c", type=float)
    with_default("--test-size", "test_size", "test fraction", type=float)
    with_default(
        "--split", "split", "one train/test split for all seeds or one per seed",
        choices=("fixed", "per_seed"),
    )  # fmt: skip
    with_default("--split-seed", "split_seed", "seed of the fixed split", type=int)
    fit.add_argument("--population-size", type=int, help="gplearn population size")
    fit.add_argument("--generations", type=int, help="gplearn generations")
    fit.add_argument("--max-terms", type=int, help="sparse: most additive terms")
    fit.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="any engine parameter, value in YAML (repeatable), e.g. --param cv=10",
    )
    fit.add_argument("--jobs", type=int, default=1, help="seeds fitted in parallel (default 1)")
    out = p.add_argument_group("outputs (the Markdown table always goes to stdout)")
    out.add_argument("--out", help="JSON of the study (a list of results with --studies)")
    out.add_argument("--plot", metavar="STEM", help="predicted-vs-measured plot, STEM.png/.pdf")
    out.add_argument("--out-dir", help="per study: <study>.json, .png and .pdf")
    out.add_argument("--markdown", help="Markdown table of the results")
    out.add_argument("--latex", help="LaTeX table of the results")


def _load_studies(source: str, experiment: str | None) -> list[dict]:
    """Studies from a YAML/JSON file: a list, ``{studies: [...]}`` or a workflow config."""
    from mtllaws.regress import PAPER_BALANCED_STUDIES

    if source == "paper_balanced":
        return [dict(s) for s in PAPER_BALANCED_STUDIES]
    import yaml

    with open(source, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if experiment is not None:
        experiments = (doc or {}).get("experiments", {}) if isinstance(doc, dict) else {}
        if experiment not in experiments:
            raise ValueError(
                f"{source}: experiment {experiment!r} not found; experiments: {sorted(experiments)}"
            )
        doc = experiments[experiment]
    if isinstance(doc, dict) and "studies" in doc:
        doc = doc["studies"]
    if not isinstance(doc, list) or not doc:
        raise ValueError(
            f"{source}: expected a non-empty list of studies (or a mapping with 'studies'; "
            "for a workflow config pass --experiment)"
        )
    return doc


#: ``mtllaws regress`` options passed to the regress stage under their own names.
_REGRESS_AS_IS = (
    "engine", "seeds", "target", "scale", "test_size", "split", "split_seed", "cv",
    "cv_repeats", "bootstrap",
)


def _run_regress(args: argparse.Namespace) -> int:
    from mtllaws.regress import (
        law_cards_markdown,
        markdown_table,
        plot_study,
        read_table,
        run_studies,
        run_study,
        write_json,
        write_study_outputs,
        write_tables,
    )

    params = _key_values(args.param, "--param")
    for option, key in (
        ("population_size", "population_size"),
        ("generations", "generations"),
        ("max_terms", "max_terms"),
    ):
        value = getattr(args, option)
        if value is not None:
            params[key] = value
    if args.family:
        params["family"] = list(args.family)
    fixed = _key_values(
        [item for group in (args.fixed or []) for item in _comma_list(group)], "--fixed"
    )
    extrapolate = _key_values(
        [item for group in (args.extrapolate or []) for item in _comma_list(group)],
        "--extrapolate",
    )
    table = read_table(args.table)
    options = {key: getattr(args, key) for key in _REGRESS_AS_IS}
    options.update(engine_params=params, n_jobs=args.jobs)
    if args.studies:
        if args.fixed or args.name or args.extrapolate or args.measures:
            raise ValueError(
                "--fixed, --name, --extrapolate and --measures describe one study; put them "
                "in --studies"
            )
        results = run_studies(
            table,
            _load_studies(args.studies, args.experiment),
            out_dir=args.out_dir,
            min_rows=args.min_rows,
            **options,
        )
        if args.out:
            write_json(results, args.out)
        if args.plot:
            raise ValueError("--plot names one plot; with --studies use --out-dir")
    elif args.measures:
        spec = {
            "features": _comma_list(args.features),
            "fixed": fixed,
            "kind": "compare_features",
            "measures": _comma_list(args.measures),
        }
        if extrapolate:
            spec["extrapolate"] = extrapolate
        if args.name:
            spec["name"] = args.name
        if args.plot:
            raise ValueError("--plot names one plot; with --measures use --out-dir")
        results = run_studies(
            table, [spec], out_dir=args.out_dir, min_rows=args.min_rows, **options
        )
        if args.out:
            write_json(results, args.out)
    else:
        spec = {"features": _comma_list(args.features), "fixed": fixed}
        if extrapolate:
            spec["extrapolate"] = extrapolate
        if args.name:
            spec["name"] = args.name
        result = run_study(table, spec, min_rows=args.min_rows, **options)
        results = [result]
        if args.out:
            write_json(result, args.out)
        if args.plot:
            plot_study(result, Path(args.plot))
        if args.out_dir:
            write_study_outputs(result, args.out_dir)
    write_tables(results, markdown=args.markdown, latex=args.latex)
    sys.stdout.write(markdown_table(results))
    cards = law_cards_markdown(results)
    if cards:
        sys.stdout.write("\n" + cards)
    if any(r.get("compare") for r in results):
        _write_compare_features(results, args.out_dir)
    return 0


def _write_compare_features(results: list[dict], out_dir) -> None:
    """Print the ΔR² table; with ``out_dir`` also write it there (Markdown and JSON)."""
    from mtllaws.compare_features import delta_r2_markdown, write_delta_r2
    from mtllaws.paths import EXPERIMENT_FILES

    paths = {"markdown": None, "json_path": None}
    if out_dir:
        paths = {
            "markdown": Path(out_dir, Path(EXPERIMENT_FILES["compare_features_md"]).name),
            "json_path": Path(out_dir, Path(EXPERIMENT_FILES["compare_features_json"]).name),
        }
    document = write_delta_r2(results, **paths)
    sys.stdout.write("\n" + delta_r2_markdown(document))



# ---------------------------------------------------------------- progress
def _configure_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--configfile",
        action="append",
        default=[],
        help="extra config file(s), merged over config/config.yaml as Snakemake does",
    )
    p.add_argument(
        "--directory",
        default=".",
        help="the workflow's working directory (holds config/, results/, logs/)",
    )
    p.add_argument(
        "--schema",
        help=f"the workflow's config schema (default: {_SCHEMA} under --directory, "
        "else under the current directory)",
    )


#: The workflow's config schema, relative to a checkout.
_SCHEMA = Path("workflow", "schemas", "config.schema.yaml")


def _find_schema(schema: str | None, directory: Path) -> Path:
    """``--schema`` when given, else the schema of the checkout at ``directory`` or here."""
    if schema:
        if not Path(schema).is_file():
            raise ValueError(f"--schema {schema}: no such file; give the workflow's {_SCHEMA}")
        return Path(schema)
    for candidate in (directory / _SCHEMA, _SCHEMA):
        if candidate.is_file():
            return candidate
    raise ValueError(
        f"no config schema at {directory / _SCHEMA} or ./{_SCHEMA}; run from the workflow's "
        "checkout or pass --schema PATH"
    )


def _run_progress(args: argparse.Namespace) -> int:
    from mtllaws.progress import format_progress, load_config, progress_table

    root = Path(args.directory)
    config = load_config(
        [root / "config" / "config.yaml", *args.configfile],
        schema=_find_schema(args.schema, root),
    )
    sys.stdout.write(format_progress(progress_table(config, root=root)) + "\n")
    return 0



# ----------------------------------------------------------------- effects
def _configure_effects(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        help="runs.parquet or summary.parquet (or .csv), or an experiment's folder "
        "results/<experiment> (its runs.parquet is used, so seeds pair)",
    )
    p.add_argument("--experiment", help="the experiment, when the table holds several")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument(
        "--acceptance",
        action="store_true",
        help="also judge the issue-13 criteria: every mean F1, STL rising with n, the AMI "
        "effect against 2 sigma, MTL at high/low AMI against STL",
    )
    p.add_argument("--tasks", type=int, default=2, help="T of the acceptance view (default 2)")


def _run_effects(args: argparse.Namespace) -> int:
    import json

    from mtllaws.effects import acceptance, compute_effects, read_results, to_markdown

    effects = compute_effects(read_results(args.path), experiment=args.experiment)
    accept = acceptance(effects, tasks=args.tasks) if args.acceptance else None
    if args.json:
        payload = {"effects": effects, **({"acceptance": accept} if accept else {})}
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
    else:
        sys.stdout.write(to_markdown(effects, accept))
    return 0



# ---------------------------------------------------------------- realtest
def _configure_realtest(p: argparse.ArgumentParser) -> None:
    from mtllaws.realtest import DEFAULT_FEATURES, DEFAULT_MEASURES, DEFAULT_TOLERANCE
    from mtllaws.regress import DEFAULTS, ENGINES

    p.add_argument("runs", help="an experiment's runs.parquet (or .csv), or results/<experiment>")
    p.add_argument("--name", default="real_tasks", help="study name (default real_tasks)")
    p.add_argument(
        "--features",
        default=",".join(DEFAULT_FEATURES),
        help=f"base features, comma-separated (default {','.join(DEFAULT_FEATURES)})",
    )
    p.add_argument(
        "--measures",
        default=",".join(DEFAULT_MEASURES),
        help="relatedness measures (registry names), each added to the base in turn "
        f"(default {','.join(DEFAULT_MEASURES)})",
    )
    p.add_argument(
        "--engines",
        default=",".join(DEFAULTS["engines"]),
        help=f"engines of {tuple(ENGINES)} (default {','.join(DEFAULTS['engines'])})",
    )
    p.add_argument("--fixed", action="append", metavar="COLUMN=VALUE",
                   help="restrict the synthetic fit and the real runs (repeatable)")  # fmt: skip
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"matched-AMI tolerance (default {DEFAULT_TOLERANCE})")  # fmt: skip
    p.add_argument("--seeds", type=_seeds, default=list(DEFAULTS["seeds"]),
                   help="regression seeds (default " + ",".join(map(str, DEFAULTS["seeds"])) + ")")
    for flag, key in (("--cv", "cv"), ("--cv-repeats", "cv_repeats"),
                      ("--bootstrap", "bootstrap"), ("--min-rows", "min_rows")):  # fmt: skip
        p.add_argument(flag, type=int, default=DEFAULTS[key], help=f"default {DEFAULTS[key]}")
    p.add_argument(
        "--param",
        action="append",
        metavar="ENGINE:KEY=VALUE",
        help="an engine parameter, value in YAML (repeatable), e.g. law:n_restarts=2 or "
        "law:families={lin: {formula: 'a + b*log(n) + d*AMI', params: {...}}}",
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--markdown", help="write the tables as Markdown")
    p.add_argument("--json", help="write the document as JSON")
    p.add_argument("--figure", metavar="STEM", help="predicted-vs-measured figure, STEM.png/.pdf")


def _run_realtest(args: argparse.Namespace) -> int:
    from mtllaws.realtest import command_line, realtest_markdown, run_realtest

    engine_params: dict = {}
    for item in args.param or []:
        engine, sep, rest = item.partition(":")
        if not sep:
            raise ValueError(f"--param {item!r}: write ENGINE:KEY=VALUE, e.g. law:n_restarts=2")
        engine_params.setdefault(engine.strip(), {}).update(_key_values([rest], "--param"))
    fixed = _key_values(
        [item for group in (args.fixed or []) for item in _comma_list(group)], "--fixed"
    )
    study = {
        "name": args.name,
        "kind": "real_tasks",
        "features": _comma_list(args.features),
        "measures": _comma_list(args.measures),
        "engines": _comma_list(args.engines),
        "fixed": fixed,
        "tolerance": args.tolerance,
    }
    options = dict(seeds=args.seeds, cv=args.cv, cv_repeats=args.cv_repeats,
                   bootstrap=args.bootstrap, min_rows=args.min_rows)  # fmt: skip
    document = run_realtest(
        args.runs,
        study,
        markdown=args.markdown,
        json_path=args.json,
        figure=args.figure,
        command=command_line(args.runs, study, engine_params=engine_params, **options),
        engine_params=engine_params,
        n_jobs=args.jobs,
        **options,
    )
    sys.stdout.write(realtest_markdown(document))
    return 0


# ------------------------------------------------------------ registration
#: The built-in subcommands, in the order of ``mtllaws --help``: name, configure, run
#: and the help line (the fields of :class:`Subcommand`).
BUILTIN = (
    ("regress", _configure_regress, _run_regress,
     "learn formulas for F1 (symbolic regression engines and parametric law families)"),
    ("progress", _configure_progress, _run_progress,
     "count done, pending and failed grid points of every experiment in run"),
    ("effects", _configure_effects, _run_effects,
     "the measured effects of an experiment: F1 against n (STL), the AMI effect, "
     "the transfer MTL - STL and the T effect, with the seeds' spread"),
    ("realtest", _configure_realtest, _run_realtest,
     "test the laws fitted on synthetic auxiliary tasks on the real ones (issue 20): "
     "predicted against measured F1, the closest measure, real vs synthetic at matched AMI"),
)

for _name, _configure, _run, _help in BUILTIN:
    register(Subcommand(name=_name, help=_help, configure=_configure, run=_run))
