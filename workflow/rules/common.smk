"""Configuration, grid expansion and input functions shared by every rule."""

import os
import sys
from pathlib import Path

# The package lives in src/: make it importable here and in every job, also in
# conda environments, without requiring `pip install -e .`.
SRC = str(Path(workflow.basedir, "src"))
sys.path.insert(0, SRC)
# Setting (not reading) the variable: jobs inherit it, also under --sdm conda.
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from mtllaws import corpus_source
from mtllaws import grid as mtl_grid
from mtllaws import paths as mtl_paths
from mtllaws import realtasks as mtl_realtasks
from mtllaws import config_check
from mtllaws import settings as mtl_settings
from mtllaws import shards as mtl_shards
from mtllaws.protocol import apply_protocols
from mtllaws.regress import ENGINES
from mtllaws.relatedness import MEASURES, enabled_measures

# `protocol: published` fills in its keys before the schema's defaults (explicit keys win)
apply_protocols(config)
# One line naming the bad key (Snakemake's validate() prints the whole schema after it).
config_check.validate_config(
    config, str(Path(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))
)

EXPERIMENTS = config_check.check_config(config)
PACKS = {
    name: mtl_grid.group_packs(
        mtl_grid.expand_experiment(name, exp),
        seeds=exp["pack_seeds"],
        levels=exp["pack_levels"],
    )
    for name, exp in EXPERIMENTS.items()
}
# Where each corpus comes from (corpus.dir, $MTLLAWS_CONLL, ../shared or the download),
# decided once here so that a missing folder stops Snakemake before any job.
CORPUS_SOURCES = {
    exp["corpus"]["name"]: corpus_source.resolve(
        exp["corpus"], key=f"experiments.{name}.corpus"
    )
    for name, exp in EXPERIMENTS.items()
}
# Real auxiliary tasks given by column index must exist in the corpus's files.
for _name, _exp in EXPERIMENTS.items():
    mtl_realtasks.check_aux_columns(
        _name, _exp, CORPUS_SOURCES[_exp["corpus"]["name"]].files["train"]
    )


# Light jobs run in the main Snakemake process also on a cluster: a SLURM submission
# would cost more than the work, and compute nodes often cannot download.
localrules:
    download_corpus,
    download_embeddings,
    aggregate,
    effects,
    plot_figures,
    plot_measure,
    compare_published,
    regress_tables,
    compare_features,


wildcard_constraints:
    experiment="[A-Za-z0-9_]+",
    pack="T[0-9]+_[A-Za-z0-9_.+-]+",  # "+": real tasks (_xpos+chunk); "-": alphas patterns
    corpus="[A-Za-z0-9_.]+",
    embedding="[A-Za-z0-9_.]+",
    download="[A-Za-z0-9_.-]+",
    engine="|".join(ENGINES),
    study="[A-Za-z0-9_]+",
    measure="|".join(m for m in MEASURES if m != "ami"),


def result(name):
    """The path template of an experiment's file ``name`` (mtllaws.paths.EXPERIMENT_FILES)."""
    return mtl_paths.EXPERIMENT_FILES[name]


def pack_log(stage):
    """The log of a per-pack job (mtllaws.paths.PACK_LOG), wildcards experiment and pack."""
    return mtl_paths.PACK_LOG.replace("{stage}", stage)


def log_path(what):
    """The log file of a job (mtllaws.paths.LOG); ``what`` may hold wildcards."""
    return mtl_paths.LOG.replace("{what}", what)


def benchmark_path(what, *, experiment=True):
    """The benchmark file of a job: per experiment, or shared (``experiment=False``)."""
    template = mtl_paths.EXPERIMENT_BENCHMARK if experiment else mtl_paths.BENCHMARK
    return template.replace("{what}", what)


def corpus_download(split):
    """A downloaded corpus file (mtllaws.paths.CORPUS), wildcard corpus."""
    return f"{mtl_paths.CORPUS['download']}/{split}.txt"


def get_experiment(wildcards):
    """The validated settings of the experiment named by the wildcards."""
    return EXPERIMENTS[wildcards.experiment]


def get_model_settings(wildcards):
    """The settings that decide a model's result (no grid, seeds or studies)."""
    return mtl_grid.model_settings(EXPERIMENTS[wildcards.experiment])


def get_points(wildcards):
    """The grid points of the pack named by the wildcards, as dicts."""
    try:
        pack = PACKS[wildcards.experiment][wildcards.pack]
    except KeyError:
        raise ValueError(
            f"{wildcards.experiment}/{wildcards.pack} is not a pack of the configured grid"
        ) from None
    return [point.record() for point in pack]


def get_corpus_settings(wildcards):
    """The corpus settings shared by the experiments that use this corpus name.

    A ``<name>.aux`` cache (experiments with real auxiliary tasks) adds the
    ``aux_columns`` their grids name (mtllaws.realtasks.aux_corpus_settings).
    """
    return mtl_realtasks.aux_corpus_settings(EXPERIMENTS, wildcards.corpus)


def get_corpus_source(wildcards):
    """The raw corpus files by split (valid may be a dev.txt); see mtllaws.corpus_source."""
    corpus = wildcards.corpus.removesuffix(mtl_realtasks.AUX_CORPUS_SUFFIX)
    if corpus not in CORPUS_SOURCES:
        raise ValueError(f"no experiment in run uses a corpus named '{corpus}'")
    return {split: str(path) for split, path in CORPUS_SOURCES[corpus].files.items()}


def get_prepared_corpus(wildcards):
    """The cache folder of the experiment's corpus (``<name>.aux`` with real tasks)."""
    name = mtl_realtasks.prepared_corpus_name(get_experiment(wildcards))
    return mtl_paths.CORPUS["prepared"].format(corpus=name)


def get_embedding_settings(wildcards):
    """The embedding settings named by an embedding id."""
    return mtl_settings.embedding_settings(
        EXPERIMENTS, wildcards.corpus, wildcards.embedding
    )


def get_pretrained_vectors(wildcards):
    """The pretrained vector file (local or downloaded), or nothing when fastText is trained here."""
    settings = get_embedding_settings(wildcards)
    path = settings["pretrained"] or mtl_settings.embedding_download_path(settings)
    return [path] if path else []


def get_download_settings(wildcards):
    """url, sha256 and size of the embeddings.url that downloads to the requested file.

    Only these three: a change of another embeddings key must not download again.
    """
    target = mtl_paths.EMBEDDINGS["download"].format(download=wildcards.download)
    for exp in EXPERIMENTS.values():
        if mtl_settings.embedding_download_path(exp["embeddings"]) == target:
            return {k: exp["embeddings"][k] for k in ("url", "sha256", "size")}
    raise ValueError(f"no experiment's embeddings.url downloads to {target}")


def get_embeddings(wildcards):
    """The embedding matrix of the experiment."""
    exp = get_experiment(wildcards)
    return mtl_paths.EMBEDDINGS["matrix"].format(
        corpus=exp["corpus"]["name"],
        embedding=mtl_settings.embedding_id(exp["embeddings"]),
    )


def get_measures(wildcards):
    """The experiment's enabled relatedness measures (AMI first, always on)."""
    return list(enabled_measures(get_experiment(wildcards)["measures"]))


def get_simulate_inputs(wildcards):
    """The simulate rule's inputs: the corpus, and the embeddings when a measure needs them."""
    inputs = {"corpus": get_prepared_corpus(wildcards)}
    if any(MEASURES[m].needs == "inputs" for m in get_measures(wildcards)):
        inputs["embeddings"] = get_embeddings(wildcards)
    return inputs


def get_measure_figures(experiment):
    """F1 against each enabled measure other than AMI (AMI's is among the paper figures)."""
    folder = result("figures").format(experiment=experiment)
    return [
        path
        for measure in enabled_measures(EXPERIMENTS[experiment]["measures"])
        if measure != "ami"
        for path in mtl_paths.measure_figure_paths(folder, measure)
    ]


def get_train_threads(wildcards):
    """Torch threads of a training job."""
    return get_experiment(wildcards)["train"]["threads"]


def get_train_gpus(wildcards):
    """1 when the experiment trains on CUDA, else 0."""
    return int(get_experiment(wildcards)["train"]["device"] == "cuda")


def get_checkpoint_dir(wildcards):
    """Where a training job keeps its checkpoints."""
    return result("checkpoints").format(
        experiment=wildcards.experiment, pack=wildcards.pack
    )


#: Every output of a pack's simulate, train and evaluate jobs, by kind.
SWEEP_OUTPUTS = mtl_paths.PACK_OUTPUTS


def sweep_output(kind):
    """Input function: a sweep output's path; a broken existing one stops the DAG.

    A corrupt shard is reported (naming the file) before any job runs, so Snakemake
    never deletes the outputs downstream of it first.
    """

    def path(wildcards):
        return mtl_shards.check_shard(
            SWEEP_OUTPUTS[kind].format(
                experiment=wildcards.experiment, pack=wildcards.pack
            ),
            kind,
        )

    return path


def get_eval_shards(wildcards):
    """Every evaluate shard of an experiment (a broken one stops the DAG)."""
    return [
        mtl_shards.check_shard(
            SWEEP_OUTPUTS["evaluate"].format(
                experiment=wildcards.experiment, pack=pack
            ),
            "evaluate",
        )
        for pack in PACKS[wildcards.experiment]
    ]


def get_sweep_targets(experiment):
    """Every simulate, model, train and evaluate output of an experiment.

    Final targets: Snakemake rebuilds a deleted intermediate output only when it is
    a target (not when the tables downstream are up to date), so Snakemake and
    `mtllaws progress` agree on which points are done. The input functions of the
    train, evaluate and aggregate rules check them before any job runs.
    """
    return [
        SWEEP_OUTPUTS[kind].format(experiment=experiment, pack=pack)
        for pack in PACKS[experiment]
        for kind in SWEEP_OUTPUTS
    ]


def get_study(wildcards):
    """The study named by the wildcards, as the one-element list the regress script takes."""
    studies = {s["name"]: s for s in get_experiment(wildcards)["studies"]}
    if wildcards.study not in studies:
        raise ValueError(
            f"experiments.{wildcards.experiment}.studies has no study '{wildcards.study}'"
        )
    return [studies[wildcards.study]]


def get_regress_outputs(wildcards):
    """The output folders of every study and engine of an experiment."""
    return [
        result("regress").format(
            experiment=wildcards.experiment, engine=engine, study=study["name"]
        )
        for engine in config["regress"]["engines"]
        for study in get_experiment(wildcards)["studies"]
        if study.get("kind") != "real_tasks"
    ]


def has_compare_features(experiment):
    """Whether an experiment has a study of kind compare_features."""
    studies = EXPERIMENTS[experiment]["studies"]
    return any(s.get("kind") == "compare_features" for s in studies)


def get_compare_features_outputs(wildcards):
    """The regress output folders of every compare_features study and engine."""
    return [
        result("regress").format(
            experiment=wildcards.experiment, engine=engine, study=study["name"]
        )
        for engine in config["regress"]["engines"]
        for study in get_experiment(wildcards)["studies"]
        if study.get("kind") == "compare_features"
    ]


def get_realtest_study(wildcards):
    """The real_tasks study named by the wildcards (issue 20, rule realtest)."""
    for study in get_experiment(wildcards)["studies"]:
        if study["name"] == wildcards.study and study.get("kind") == "real_tasks":
            return study
    raise ValueError(
        f"experiments.{wildcards.experiment}.studies has no real_tasks study "
        f"'{wildcards.study}'"
    )


def get_realtest_targets(experiment):
    """The Markdown, JSON and figure of every real_tasks study of an experiment."""
    names = ("realtest_md", "realtest_json", "realtest_png", "realtest_pdf")
    return [
        result(name).format(experiment=experiment, study=study["name"])
        for study in EXPERIMENTS[experiment]["studies"]
        if study.get("kind") == "real_tasks"
        for name in names
    ]


def get_figure_outputs(folder):
    """The figure files of an experiment; the PNGs go into the report with captions."""
    outputs = []
    for path in mtl_paths.figure_paths(folder):
        if path.endswith(".png"):
            stem = Path(path).stem
            path = report(
                path,
                caption=f"../report/{stem}.rst",
                category="Figures",
                subcategory="{experiment}",
            )
        outputs.append(path)
    return outputs


def get_measure_figure_outputs(folder):
    """The files of one F1-against-measure figure (wildcard measure); the PNG in the report."""
    outputs = []
    for path in mtl_paths.measure_figure_paths(folder):
        if path.endswith(".png"):
            path = report(
                path,
                caption="../report/f1_vs_measure.rst",
                category="Figures",
                subcategory="{experiment}",
            )
        outputs.append(path)
    return outputs


def get_final_targets():
    """The final targets: tables, figures and formulas of every experiment in run."""
    targets = []
    for name in config["run"]:
        files = ["runs", "summary", "runs_csv", "summary_csv"]
        files += ["effects_md", "effects_json"]
        if any(s.get("kind") != "real_tasks" for s in EXPERIMENTS[name]["studies"]):
            files.append("formulas_md")
        if has_compare_features(name):
            files.append("compare_features_md")
        if config["published"] and EXPERIMENTS[name]["mode"] == "balanced":
            files.append("compare_md")
        targets += get_sweep_targets(name)
        targets += [result(f).format(experiment=name) for f in files[:4]]
        targets += mtl_paths.figure_paths(result("figures").format(experiment=name))
        targets += get_measure_figures(name)
        targets += [result(f).format(experiment=name) for f in files[4:]]
        targets += get_realtest_targets(name)
    return targets
