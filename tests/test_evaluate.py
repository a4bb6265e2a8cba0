"""Tests for mtllaws.evaluate: conlleval chunk scoring."""

from __future__ import annotations

import time

import numpy as np
import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from mtllaws.corpus import prepare_corpus
from mtllaws.evaluate import chunks, io_to_iob2, score, score_ids

TYPES = ["PER", "ORG", "LOC", "MISC"]

# Hand-checked against conlleval's rules:
# s1 gold PER(0-1) PER(2) LOC(4-5); predicted IO PER PER PER merges into PER(0-2) -> wrong,
#    LOC(4-5) right.
# s2 gold starts with I- (IOB1 style): ORG(0-1) MISC(3); predicted ORG(0-1) right, ORG(3) wrong.
# s3 gold LOC(1) ORG(2) (type change without B-): predicted LOC(1) ORG(2) both right.
GOLD = [
    ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "O"],
    ["I-ORG", "I-ORG", "O", "I-MISC"],
    ["O", "B-LOC", "I-ORG"],
]
PRED_IO = [
    ["PER", "PER", "PER", "O", "LOC", "LOC", "O"],
    ["ORG", "ORG", "O", "ORG"],
    ["O", "LOC", "ORG"],
]


def test_io_to_iob2():
    assert io_to_iob2(["PER", "PER", "O", "LOC", "ORG", "ORG"]) == [
        "B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG",
    ]
    assert io_to_iob2(["I-PER", "I-PER", "B-PER"]) == ["B-PER", "I-PER", "B-PER"]
    assert io_to_iob2([]) == []


def test_hand_computed_conlleval_example():
    s = score(GOLD, PRED_IO)
    # gold chunks 7, predicted 6, correct 4
    assert (s["n_gold"], s["n_pred"], s["n_correct"], s["n_tokens"]) == (7, 6, 4, 14)
    assert s["precision"] == pytest.approx(4 / 6)
    assert s["recall"] == pytest.approx(4 / 7)
    assert s["f1"] == pytest.approx(8 / 13)
    assert (s["precision_PER"], s["recall_PER"], s["f1_PER"]) == (0.0, 0.0, 0.0)
    assert (s["precision_LOC"], s["recall_LOC"], s["f1_LOC"]) == (1.0, 1.0, 1.0)
    assert s["precision_ORG"] == pytest.approx(2 / 3) and s["recall_ORG"] == 1.0
    assert s["f1_ORG"] == pytest.approx(0.8)
    assert (s["precision_MISC"], s["recall_MISC"], s["f1_MISC"]) == (0.0, 0.0, 0.0)
    assert s["n_gold_PER"] == 2 and s["n_gold_MISC"] == 1
    # the same through seqeval (default mode = conlleval)
    pred = [io_to_iob2(p) for p in PRED_IO]
    assert s["f1"] == pytest.approx(f1_score(GOLD, pred))


def test_chunks_rules():
    # tokens: B-PER I-PER B-PER I-LOC O I-ORG (type ids PER=0 LOC=1 ORG=2)
    t = np.array([0, 0, 0, 1, -1, 2])
    b = np.array([True, False, True, False, False, False])
    starts, ends, types = chunks(t, b)
    np.testing.assert_array_equal(starts, [0, 2, 3, 5])
    np.testing.assert_array_equal(ends, [1, 2, 3, 5])
    np.testing.assert_array_equal(types, [0, 0, 1, 2])


def test_score_ids_matches_score():
    labels = ["O", *TYPES]
    flat = np.array([labels.index(t) for sent in PRED_IO for t in sent])
    assert score_ids(GOLD, flat, labels) == score(GOLD, PRED_IO, types=TYPES)


def test_types_fix_the_keys():
    s = score([["O", "B-PER"]], [["O", "O"]], types=TYPES)
    assert {f"f1_{t}" for t in TYPES} <= set(s)
    assert s["f1"] == 0.0 and s["precision"] == 0.0 and s["recall"] == 0.0
    assert score([["O"]], [["O"]])["f1"] == 0.0


def _random_tags(rng, n_sent, types, iob):
    out = []
    for _ in range(n_sent):
        length = int(rng.integers(1, 12))
        tags = []
        for _ in range(length):
            r = rng.random()
            if r < 0.45:
                tags.append("O")
            else:
                prefix = "B-" if (iob and r < 0.65) else "I-"
                tags.append(prefix + types[int(rng.integers(len(types)))])
        out.append(tags)
    return out


def test_equals_seqeval_on_random_sequences():
    rng = np.random.default_rng(0)
    for trial in range(30):
        gold = _random_tags(rng, 40, TYPES, iob=True)
        # predictions: random IO tags of the same lengths, sometimes copying gold
        pred_io = [
            [g[2:] if (g != "O" and rng.random() < 0.6) else
             ("O" if rng.random() < 0.5 else TYPES[int(rng.integers(4))]) for g in sent]
            for sent in gold
        ]
        pred = [io_to_iob2(p) for p in pred_io]
        s = score(gold, pred_io, types=TYPES)
        assert s["precision"] == pytest.approx(precision_score(gold, pred), abs=1e-12)
        assert s["recall"] == pytest.approx(recall_score(gold, pred), abs=1e-12)
        assert s["f1"] == pytest.approx(f1_score(gold, pred), abs=1e-12)
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
        for t in TYPES:
            if t in report:
                assert s[f"f1_{t}"] == pytest.approx(report[t]["f1-score"], abs=1e-12), trial
                assert s[f"precision_{t}"] == pytest.approx(report[t]["precision"], abs=1e-12)
                assert s[f"recall_{t}"] == pytest.approx(report[t]["recall"], abs=1e-12)
                assert s[f"n_gold_{t}"] == report[t]["support"]


def test_gold_iob1_and_mixed_predictions_equal_seqeval():
    rng = np.random.default_rng(1)
    gold = _random_tags(rng, 200, TYPES, iob=False)  # I- only: IOB1-style starts
    pred = [[t if rng.random() < 0.7 else "O" for t in sent] for sent in gold]
    assert score(gold, pred)["f1"] == pytest.approx(f1_score(gold, [io_to_iob2(p) for p in pred]))


def test_length_mismatches_and_bad_tags():
    with pytest.raises(ValueError, match="gold has 3 sentences but predictions 2"):
        score(GOLD, PRED_IO[:2])
    with pytest.raises(ValueError, match="sentence 1: gold has 4 tokens but the prediction 3"):
        score(GOLD, [PRED_IO[0], PRED_IO[1][:3], PRED_IO[2]])
    with pytest.raises(ValueError, match="gold sentence 0: tag 'E-PER'"):
        score([["E-PER"]], [["O"]])
    labels = ["O", *TYPES]
    with pytest.raises(ValueError, match="pred_ids has shape"):
        score_ids(GOLD, np.zeros(13, dtype=int), labels)
    with pytest.raises(ValueError, match=r"pred_ids must lie in \[0, 5\)"):
        score_ids(GOLD, np.full(14, 5), labels)


def test_scoring_50k_tokens_is_fast():
    rng = np.random.default_rng(2)
    gold = _random_tags(rng, 8000, TYPES, iob=True)
    n = sum(map(len, gold))
    pred = rng.integers(0, 5, size=n)
    start = time.perf_counter()
    score_ids(gold, pred, ["O", *TYPES])
    assert time.perf_counter() - start < 0.5


@pytest.mark.realdata
def test_real_dev_and_test_score(conll_dir, tmp_path):
    p = prepare_corpus(conll_dir, tmp_path / "c")
    for tags, y in ((p.dev_tags, p.dev_y), (p.test_tags, p.test_y)):
        perfect = score_ids(tags, y, p.labels)  # IO gold loses only adjacent same-type splits
        assert perfect["n_tokens"] == len(y)
        assert 0.98 < perfect["f1"] < 1.0 and perfect["precision"] <= 1.0
        assert perfect["recall"] == perfect["n_correct"] / perfect["n_gold"]
        rng = np.random.default_rng(0)
        noisy = np.where(rng.random(len(y)) < 0.1, rng.integers(0, 5, len(y)), y)
        start = time.perf_counter()
        s = score_ids(tags, noisy, p.labels)
        assert time.perf_counter() - start < 1.0
        pred = [io_to_iob2(sent) for sent in np.split(
            np.asarray(p.labels, dtype=object)[noisy], np.cumsum([len(t) for t in tags])[:-1])]
        assert s["f1"] == pytest.approx(f1_score(tags, pred), abs=1e-12)
