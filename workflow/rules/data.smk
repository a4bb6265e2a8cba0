"""Corpus download, parsing and caching, and embeddings."""


rule download_corpus:
    """Download the corpus archive and check every file against its sha256."""
    output:
        train=corpus_download("train"),
        valid=corpus_download("valid"),
        test=corpus_download("test"),
    log:
        log_path("corpus/{corpus}/download_corpus"),
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_corpus_settings,
    script:
        "../scripts/download_corpus.py"


rule prepare_corpus:
    """Parse the corpus once and cache vocabulary, windows and labels."""
    input:
        unpack(get_corpus_source),
    output:
        directory(mtl_paths.CORPUS["prepared"]),
    log:
        log_path("corpus/{corpus}/prepare_corpus"),
    benchmark:
        benchmark_path("corpus/{corpus}/prepare_corpus", experiment=False)
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_corpus_settings,
    script:
        "../scripts/prepare_corpus.py"


rule download_embeddings:
    """Download the pretrained vectors at embeddings.url, checked by size and sha256."""
    output:
        mtl_paths.EMBEDDINGS["download"],
    log:
        log_path("embeddings/download/{download}"),
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_download_settings,
    script:
        "../scripts/download_embeddings.py"


rule prepare_embeddings:
    """Train fastText on the training split, or read pretrained vectors, into one matrix."""
    input:
        corpus=mtl_paths.CORPUS["prepared"],
        pretrained=get_pretrained_vectors,
    output:
        mtl_paths.EMBEDDINGS["matrix"],
    log:
        log_path("embeddings/{corpus}/{embedding}"),
    benchmark:
        benchmark_path("embeddings/{corpus}/{embedding}", experiment=False)
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_embedding_settings,
    script:
        "../scripts/prepare_embeddings.py"
