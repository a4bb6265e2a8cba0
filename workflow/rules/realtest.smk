"""The test of the laws on real auxiliary tasks: one job per real_tasks study (issue 20)."""


rule realtest:
    """Fit every engine's law on the synthetic multitask runs, once per measure, predict
    the real-task runs' F1, and compare real with synthetic tasks at matched AMI."""
    input:
        runs=result("runs"),
    output:
        markdown=report(
            result("realtest_md"),
            caption="../report/realtest.rst",
            category="Real auxiliary tasks",
            subcategory="{experiment}",
        ),
        json=result("realtest_json"),
        png=report(
            result("realtest_png"),
            caption="../report/realtest_figure.rst",
            category="Real auxiliary tasks",
            subcategory="{experiment}",
        ),
        pdf=result("realtest_pdf"),
    log:
        log_path("{experiment}/realtest/{study}"),
    benchmark:
        benchmark_path("realtest/{study}")
    conda:
        "../../envs/mtllaws.yaml"
    threads: 2
    params:
        study=get_realtest_study,
        engines=config["regress"]["engines"],
        seeds=config["regress"]["seeds"],
        target=config["regress"]["target"],
        min_rows=config["regress"]["min_rows"],
        test_size=config["regress"]["test_size"],
        cv=config["regress"]["cv"],
        cv_repeats=config["regress"]["cv_repeats"],
        bootstrap=config["regress"]["bootstrap"],
        engine_params={"law": {"families": config["regress"]["law_families"]}},
    script:
        "../scripts/realtest.py"
