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
from mtllaws import config_check
from mtllaws import settings as mtl_settings
from mtllaws import shards as mtl_shards
from mtllaws.figures import figure_paths
from mtllaws.protocol import apply_protocols
from mtllaws.regress import ENGINES

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


# Light jobs run in the main Snakemake process also on a cluster: a SLURM submission
# would cost more than the work, and compute nodes often cannot download.
localrules:
    download_corpus,
    download_embeddings,
    aggregate,
    effects,
    plot_figures,
    compare_published,
    regress_tables,


wildcard_constraints:
    experiment="[A-Za-z0-9_]+",
    pack="T[0-9]+_[A-Za-z0-9_.]+",
    corpus="[A-Za-z0-9_.]+",
    embedding="[A-Za-z0-9_.]+",
    download="[A-Za-z0-9_.-]+",
    engine="|".join(ENGINES),
    study="[A-Za-z0-9_]+",


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
    """The corpus settings shared by the experiments that use this corpus name."""
    return mtl_settings.corpus_settings(EXPERIMENTS, wildcards.corpus)


def get_corpus_source(wildcards):
    """The raw corpus files by split (valid may be a dev.txt); see mtllaws.corpus_source."""
    if wildcards.corpus not in CORPUS_SOURCES:
        raise ValueError(
            f"no experiment in run uses a corpus named '{wildcards.corpus}'"
        )
    return {
        split: str(path)
        for split, path in CORPUS_SOURCES[wildcards.corpus].files.items()
    }


def get_prepared_corpus(wildcards):
    """The cache folder of the experiment's corpus."""
    name = get_experiment(wildcards)["corpus"]["name"]
    return str(Path("resources", "corpus", name, "prepared"))


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
    target = str(Path("resources", "embeddings", "download", wildcards.download))
    for exp in EXPERIMENTS.values():
        if mtl_settings.embedding_download_path(exp["embeddings"]) == target:
            return {k: exp["embeddings"][k] for k in ("url", "sha256", "size")}
    raise ValueError(f"no experiment's embeddings.url downloads to {target}")


def get_embeddings(wildcards):
    """The embedding matrix of the experiment."""
    exp = get_experiment(wildcards)
    return str(
        Path(
            "resources",
            "embeddings",
            exp["corpus"]["name"],
            f"{mtl_settings.embedding_id(exp['embeddings'])}.npy",
        )
    )


def get_train_threads(wildcards):
    """Torch threads of a training job."""
    return get_experiment(wildcards)["train"]["threads"]


def get_train_gpus(wildcards):
    """1 when the experiment trains on CUDA, else 0."""
    return int(get_experiment(wildcards)["train"]["device"] == "cuda")


def get_checkpoint_dir(wildcards):
    """Where a training job keeps its checkpoints."""
    return str(Path("results", wildcards.experiment, "checkpoints", wildcards.pack))


def sweep_output(kind, template):
    """Input function: a sweep output's path; a broken existing one stops the DAG.

    A corrupt shard is reported (naming the file) before any job runs, so Snakemake
    never deletes the outputs downstream of it first.
    """

    def path(wildcards):
        return mtl_shards.check_shard(
            template.format(experiment=wildcards.experiment, pack=wildcards.pack), kind
        )

    return path


#: Every output of a pack's simulate, train and evaluate jobs, by kind.
SWEEP_OUTPUTS = {
    "simulate": "results/{experiment}/simulate/{pack}.parquet",
    "model": "results/{experiment}/train/{pack}.pt",
    "train": "results/{experiment}/train/{pack}.parquet",
    "evaluate": "results/{experiment}/evaluate/{pack}.parquet",
}


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
        str(Path("results", wildcards.experiment, "regress", engine, study["name"]))
        for engine in config["regress"]["engines"]
        for study in get_experiment(wildcards)["studies"]
    ]


def get_figure_outputs(folder):
    """The figure files of an experiment; the PNGs go into the report with captions."""
    outputs = []
    for path in figure_paths(folder):
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


def get_effects_targets(folder):
    """The effects tables of an experiment's results folder (rule effects)."""
    return [Path(folder, "effects.md"), Path(folder, "effects.json")]


def get_final_targets():
    """The final targets: tables, figures and formulas of every experiment in run."""
    targets = []
    for name in config["run"]:
        folder = Path("results", name)
        targets += get_sweep_targets(name)
        targets += [
            folder / "runs.parquet",
            folder / "summary.parquet",
            folder / "runs.csv",
            folder / "summary.csv",
            *figure_paths(folder / "figures"),
            *get_effects_targets(folder),
        ]
        if EXPERIMENTS[name]["studies"]:
            targets.append(folder / "regress" / "formulas.md")
        if config["published"] and EXPERIMENTS[name]["mode"] == "balanced":
            targets.append(folder / "compare" / "comparison.md")
    return [str(t) for t in targets]
