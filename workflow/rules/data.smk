"""Corpus download, parsing and caching, and embeddings."""


rule download_corpus:
    """Download the corpus archive and check every file against its sha256."""
    output:
        train="resources/corpus/{corpus}/download/train.txt",
        valid="resources/corpus/{corpus}/download/valid.txt",
        test="resources/corpus/{corpus}/download/test.txt",
    log:
        "logs/corpus/{corpus}/download_corpus.log",
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
        directory("resources/corpus/{corpus}/prepared"),
    log:
        "logs/corpus/{corpus}/prepare_corpus.log",
    benchmark:
        "results/benchmarks/corpus/{corpus}/prepare_corpus.tsv"
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_corpus_settings,
    script:
        "../scripts/prepare_corpus.py"


rule download_embeddings:
    """Download the pretrained vectors at embeddings.url, checked by size and sha256."""
    output:
        "resources/embeddings/download/{download}",
    log:
        "logs/embeddings/download/{download}.log",
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_download_settings,
    script:
        "../scripts/download_embeddings.py"


rule prepare_embeddings:
    """Train fastText on the training split, or read pretrained vectors, into one matrix."""
    input:
        corpus="resources/corpus/{corpus}/prepared",
        pretrained=get_pretrained_vectors,
    output:
        "resources/embeddings/{corpus}/{embedding}.npy",
    log:
        "logs/embeddings/{corpus}/{embedding}.log",
    benchmark:
        "results/benchmarks/embeddings/{corpus}/{embedding}.tsv"
    conda:
        "../../envs/mtllaws.yaml"
    params:
        settings=get_embedding_settings,
    script:
        "../scripts/prepare_embeddings.py"
