"""Figures, the comparison with published results, and the Snakemake report."""


report: "../report/workflow.rst"


rule plot_figures:
    """F1 against n, AMI and T, and the AMI-against-alpha calibration curve."""
    input:
        summary="results/{experiment}/summary.parquet",
        runs="results/{experiment}/runs.parquet",
    output:
        get_figure_outputs("results/{experiment}/figures"),
    log:
        "logs/{experiment}/plot_figures.log",
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/plot_figures.py"


rule compare_published:
    """Our summary against a table of published results, per configuration."""
    input:
        summary="results/{experiment}/summary.parquet",
        published=config["published"] or [],
    output:
        csv="results/{experiment}/compare/comparison.csv",
        markdown=report(
            "results/{experiment}/compare/comparison.md",
            caption="../report/comparison_table.rst",
            category="Comparison",
            subcategory="{experiment}",
        ),
        json="results/{experiment}/compare/comparison.json",
        png=report(
            "results/{experiment}/compare/comparison.png",
            caption="../report/comparison.rst",
            category="Comparison",
            subcategory="{experiment}",
        ),
        pdf="results/{experiment}/compare/comparison.pdf",
    log:
        "logs/{experiment}/compare_published.log",
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/compare_published.py"
