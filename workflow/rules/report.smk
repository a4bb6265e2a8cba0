"""Figures, the comparison with published results, and the Snakemake report."""


report: "../report/workflow.rst"


rule plot_figures:
    """F1 against n, AMI and T, and the AMI-against-alpha calibration curve."""
    input:
        summary=result("summary"),
        runs=result("runs"),
    output:
        get_figure_outputs(result("figures")),
    log:
        log_path("{experiment}/plot_figures"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/plot_figures.py"


rule plot_measure:
    """F1 against one enabled relatedness measure other than AMI."""
    input:
        summary=result("summary"),
    output:
        get_measure_figure_outputs(result("figures")),
    log:
        log_path("{experiment}/plot_measure_{measure}"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/plot_measure.py"


rule compare_published:
    """Our summary against a table of published results, per configuration."""
    input:
        summary=result("summary"),
        published=config["published"] or [],
    output:
        csv=result("compare_csv"),
        markdown=report(
            result("compare_md"),
            caption="../report/comparison_table.rst",
            category="Comparison",
            subcategory="{experiment}",
        ),
        json=result("compare_json"),
        png=report(
            result("compare_png"),
            caption="../report/comparison.rst",
            category="Comparison",
            subcategory="{experiment}",
        ),
        pdf=result("compare_pdf"),
    log:
        log_path("{experiment}/compare_published"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/compare_published.py"
