"""Symbolic regression: one job per study and engine, then the formula tables."""


rule regress:
    """Fit one study's formula with one engine, for every regression seed."""
    input:
        table=result("summary"),
    output:
        dir=report(
            directory(result("regress")),
            patterns=["{name}.png"],
            caption="../report/regress.rst",
            category="Formulas",
            subcategory="{experiment}",
        ),
    log:
        log_path("{experiment}/regress/{engine}/{study}"),
    benchmark:
        benchmark_path("regress/{engine}/{study}")
    conda:
        "../../envs/mtllaws.yaml"
    threads: 2
    params:
        studies=get_study,
        engine="{engine}",
        seeds=config["regress"]["seeds"],
        target=config["regress"]["target"],
        min_rows=config["regress"]["min_rows"],
        test_size=config["regress"]["test_size"],
        cv=config["regress"]["cv"],
        cv_repeats=config["regress"]["cv_repeats"],
        bootstrap=config["regress"]["bootstrap"],
        engine_params=lambda wildcards: (
            {"families": config["regress"]["law_families"]}
            if wildcards.engine == "law"
            else {}
        ),
    script:
        "../scripts/regress.py"


rule regress_tables:
    """Every study's formula with grouped-CV and test R2, the comparison of engines and
    law families, and a law card per study."""
    input:
        get_regress_outputs,
    output:
        markdown=report(
            result("formulas_md"),
            caption="../report/formulas.rst",
            category="Formulas",
            subcategory="{experiment}",
        ),
        latex=result("formulas_tex"),
        json=result("formulas_json"),
    log:
        log_path("{experiment}/regress_tables"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/regress_tables.py"


rule compare_features:
    """The ΔR² table of every compare_features study: each relatedness measure's
    grouped-CV R² per engine and law family, and its paired difference to the reference.
    """
    input:
        get_compare_features_outputs,
    output:
        markdown=report(
            result("compare_features_md"),
            caption="../report/compare_features.rst",
            category="Formulas",
            subcategory="{experiment}",
        ),
        json=result("compare_features_json"),
    log:
        log_path("{experiment}/compare_features"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/compare_features.py"
