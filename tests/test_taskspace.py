"""Tests of mtllaws.taskspace: the acceptance lists of issues 17 and 18 (unit level)."""

from __future__ import annotations

import numpy as np
import pytest

from mtllaws import taskspace as ts
from mtllaws.simulate import simulate_labels

C = 5  # classes of the planted mixture (as CoNLL-2003's IO labels)


def anisotropic(n: int, d: int, seed: int) -> np.ndarray:
    """Gaussian rows with distinct scales per coordinate (no rotation leaves XᵀX alone)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * np.linspace(0.2, 3.0, d)


def mixture(n: int, *, d: int = 100, seed: int, means_seed: int = 0):
    """Planted Gaussian mixture: C class means (fixed by ``means_seed``) plus unit noise."""
    means = 0.5 * np.random.default_rng(means_seed).standard_normal((C, d))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    return means[y] + rng.standard_normal((n, d)), y


def kept_spectrum(x: np.ndarray, keep: float) -> np.ndarray:
    """Eigenvalues of XᵀX (from the singular values of X) at the rank keeping ``keep``."""
    lam = np.linalg.svd(x, compute_uv=False) ** 2
    r = int(np.searchsorted(np.cumsum(lam) / lam.sum(), keep - 1e-12) + 1)
    return lam[:r]


# --- covariance measures -------------------------------------------------------------


def test_covariance_is_uncentred_gram():
    x = anisotropic(50, 4, 0) + 3.0
    np.testing.assert_allclose(ts.covariance(x), x.T @ x, rtol=1e-12)


@pytest.mark.parametrize("keep", [0.99, 0.9, 1.0])
def test_cov_sim_of_identical_tasks_is_l2_over_l1_of_kept_spectrum(keep):
    x = anisotropic(400, 12, 1)
    lam = kept_spectrum(x, keep)
    expected = np.linalg.norm(lam) / lam.sum()
    assert ts.cov_sim(x, x, keep=keep) == pytest.approx(expected, abs=1e-10)
    assert expected < 1.0  # the un-normalised score of eq. 5, not 1


def test_cov_sim_isotropic_identical_is_about_one_over_sqrt_rank():
    x = np.random.default_rng(2).standard_normal((20000, 16))
    assert ts.cov_sim(x, x, keep=1.0) == pytest.approx(1 / np.sqrt(16), rel=0.02)


def test_keep_rank():
    assert ts.keep_rank([5.0, 3.0, 2.0], 0.5) == 1
    assert ts.keep_rank([2.0, 5.0, 3.0], 0.8) == 2
    assert ts.keep_rank([5.0, 3.0, 2.0], 1.0) == 3
    assert ts.keep_rank([1.0, 0.0, 0.0], 1.0) == 1


def random_rotation(d: int, seed: int) -> np.ndarray:
    return ts.rotation_map(d, 1.0, seed=seed)


def test_cov_rv_is_one_for_proportional_covariances_after_a_shared_rotation():
    x = anisotropic(300, 10, 3)
    p = random_rotation(10, 4)
    for c in (1.0, 0.3, 7.0, -2.0):
        assert ts.cov_rv(x @ p, c * x @ p) == pytest.approx(1.0, abs=1e-12)
        assert ts.cov_rv(x, c * x) == pytest.approx(1.0, abs=1e-12)


def test_cov_rv_and_cov_sim_are_invariant_to_rotating_both_tasks():
    x1, x2 = anisotropic(300, 10, 5), anisotropic(200, 10, 6) @ random_rotation(10, 7)
    p = random_rotation(10, 8)
    assert ts.cov_rv(x1 @ p, x2 @ p) == pytest.approx(ts.cov_rv(x1, x2), abs=1e-12)
    assert ts.cov_sim(x1 @ p, x2 @ p) == pytest.approx(ts.cov_sim(x1, x2), abs=1e-10)
    # rotating one task only does change it (the test above is not vacuous)
    assert abs(ts.cov_rv(x1 @ p, x2) - ts.cov_rv(x1, x2)) > 0.01


def test_cov_rv_falls_strictly_as_the_rotation_angle_grows():
    x = anisotropic(2000, 20, 9)
    phis = np.linspace(0.0, np.pi / 2, 9)
    rv = np.array([ts.cov_rv(x, x @ ts.rotation_map(20, phi, seed=11)) for phi in phis])
    assert rv[0] == pytest.approx(1.0, abs=1e-12)
    assert (np.diff(rv) < 0).all(), rv
    assert rv[-1] < 0.8


def test_cov_rv_equals_its_definition():
    x1, x2 = anisotropic(80, 6, 12), anisotropic(90, 6, 13) @ random_rotation(6, 1)
    c1, c2 = x1.T @ x1, x2.T @ x2
    expected = np.sum(c1 * c2) / (np.linalg.norm(c1) * np.linalg.norm(c2))
    assert ts.cov_rv(x1, x2) == pytest.approx(expected, rel=1e-12)


# --- models ---------------------------------------------------------------------------


def test_centred_onehot_drops_masked_rows_and_centres():
    y = np.array([0, 2, ts.MASK, 2, 1, ts.MASK])
    got = ts.centred_onehot(y, 4)
    onehot = np.eye(4)[[0, 2, 2, 1]]
    np.testing.assert_allclose(got, onehot - onehot.mean(axis=0))
    np.testing.assert_allclose(got.sum(axis=0), 0.0, atol=1e-15)
    assert (got[:, 3] == 0).all()  # a class that never occurs


def _primal(x, y, lam):
    """The ridge formula written out: λ = lam × tr(XcᵀXc) / n."""
    xc = x - x.mean(axis=0)
    g = xc.T @ xc
    return np.linalg.solve(g + lam * np.trace(g) / x.shape[0] * np.eye(x.shape[1]), xc.T @ y)


@pytest.mark.parametrize("solver", ["direct", "cg", "auto"])
@pytest.mark.parametrize("lam", [1e-3, 0.05, 30.0])
@pytest.mark.parametrize("n", [40, 20, 700])  # n >= d: primal; n < d: dual; 700: CG row blocks
def test_ridge_model_solvers_match_the_formula(solver, lam, n):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((n, 30)) * np.linspace(0.5, 2.0, 30) + 1.0
    y = ts.centred_onehot(rng.integers(0, 3, n), 3)
    np.testing.assert_allclose(ts.ridge_model(x, y, lam=lam, solver=solver), _primal(x, y, lam),
                               rtol=1e-7, atol=1e-12)
    assert ts.ridge_model(x, y[:, 0], lam=lam, solver=solver).shape == (30,)


def test_ridge_model_uncentred_targets_keep_the_intercept_out():
    rng = np.random.default_rng(23)
    x = rng.standard_normal((200, 6)) + 3.0
    y = rng.standard_normal((200, 2)) + 5.0
    np.testing.assert_allclose(ts.ridge_model(x, y, solver="cg"), _primal(x, y, ts.DEFAULT_LAM),
                               rtol=1e-8)


def test_ridge_relative_strength_is_scale_free():
    rng = np.random.default_rng(15)
    x, y = rng.standard_normal((60, 8)), rng.standard_normal((60, 2))
    np.testing.assert_allclose(ts.ridge_model(10 * x, y) * 10, ts.ridge_model(x, y), rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_model_sim_low_at_uniform_noise_high_at_clean_labels(seed):
    x1, y1 = mixture(5000, seed=100 + seed)
    x2, real2 = mixture(5000, seed=200 + seed)
    rng = np.random.default_rng([seed, 3])
    noise = simulate_labels(real2, 1 / C, C, rng)
    clean = simulate_labels(real2, 1.0, C, rng)
    assert ts.model_sim(x1, y1, x2, noise, c1=C, c2=C) < 0.1
    assert ts.model_sim(x1, y1, x2, clean, c1=C, c2=C) > 0.9


def test_model_sim_rises_with_alpha():
    x1, y1 = mixture(5000, seed=300)
    x2, real2 = mixture(5000, seed=301)
    sims = [ts.model_sim(x1, y1, x2, simulate_labels(real2, a, C, np.random.default_rng(4)),
                         c1=C, c2=C) for a in (0.2, 0.4, 0.6, 0.8, 1.0)]
    assert (np.diff(sims) > 0).all(), sims


def test_model_sim_unchanged_when_synthetic_classes_are_permuted():
    x1, y1 = mixture(3000, seed=400)
    x2, real2 = mixture(3000, seed=401)
    y2 = simulate_labels(real2, 0.6, C, np.random.default_rng(5))
    y2[::7] = ts.MASK  # masked rows are dropped in both cases
    perm = np.array([3, 0, 4, 1, 2])
    y2p = np.where(y2 == ts.MASK, ts.MASK, perm[np.maximum(y2, 0)])
    base = ts.model_sim(x1, y1, x2, y2, c1=C, c2=C)
    assert ts.model_sim(x1, y1, x2, y2p, c1=C, c2=C) == pytest.approx(base, abs=1e-12)
    assert 0.1 < base < 0.99


def test_model_sim_with_one_output_is_squared_cosine():
    rng = np.random.default_rng(16)
    a, b = rng.standard_normal(12), rng.standard_normal(12)
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert ts.rv_coefficient(a, b) == pytest.approx(cos**2, rel=1e-12)
    # two-class tasks: centred one-hot columns are ±, so Θ has rank 1 -> cos² of the slopes
    x1, y1 = mixture(800, d=12, seed=17)
    x2, y2 = mixture(900, d=12, seed=18)
    y1, y2 = (y1 > 1).astype(int), (y2 > 2).astype(int)
    t1 = ts.ridge_model(x1, ts.centred_onehot(y1, 2))[:, 1]
    t2 = ts.ridge_model(x2, ts.centred_onehot(y2, 2))[:, 1]
    cos = t1 @ t2 / (np.linalg.norm(t1) * np.linalg.norm(t2))
    assert ts.model_sim(x1, y1, x2, y2, c1=2, c2=2) == pytest.approx(cos**2, rel=1e-9)


# --- CKA ------------------------------------------------------------------------------


def test_linear_cka_invariances():
    rng = np.random.default_rng(19)
    a = rng.standard_normal((500, 5)) @ rng.standard_normal((5, 5))
    b = a @ rng.standard_normal((5, 3)) + 0.5 * rng.standard_normal((500, 3))
    base = ts.linear_cka(a, b)
    assert 0.0 < base < 1.0
    assert ts.linear_cka(a, a) == pytest.approx(1.0, abs=1e-12)
    q = random_rotation(5, 20)
    assert ts.linear_cka(3.0 * a @ q + 7.0, b) == pytest.approx(base, abs=1e-12)
    assert ts.linear_cka(a, rng.standard_normal((500, 3))) < 0.05
    kc = a - a.mean(0)
    lc = b - b.mean(0)
    norms = np.linalg.norm(kc.T @ kc) * np.linalg.norm(lc.T @ lc)
    expected = np.linalg.norm(kc.T @ lc) ** 2 / norms
    assert base == pytest.approx(expected, rel=1e-12)


# --- SVD task weights -------------------------------------------------------------------


def mixture_thetas(alphas, *, seed=21, n=5000):
    f, y = mixture(n, seed=seed)
    thetas = [ts.label_theta(f, y, c=C)]
    labels = [y]
    for k, a in enumerate(alphas):
        yk = simulate_labels(y, a, C, np.random.default_rng([seed, k]))
        labels.append(yk)
        thetas.append(ts.label_theta(f, yk, c=C))
    return f, labels, thetas


def test_svd_weights_sum_to_T_and_all_clean_tasks_are_near_one():
    _, _, thetas = mixture_thetas([0.99, 0.99, 0.99, 0.99])
    w = ts.svd_weights(thetas)
    assert w.sum() == pytest.approx(5.0, abs=1e-12)
    assert (np.abs(w - 1.0) <= 0.05).all(), w


def test_svd_weight_of_a_pure_noise_task_is_small():
    _, _, thetas = mixture_thetas([0.99, 0.99, 0.99, 1 / C])
    w = ts.svd_weights(thetas)
    assert w[-1] < 0.2 * w[:-1].min(), w
    assert w.sum() == pytest.approx(5.0, abs=1e-12)


def test_svd_weights_with_disjoint_rows_use_ridge_models():
    thetas = []
    for t, a in enumerate([1.0, 0.99, 0.99, 1 / C]):
        x, real = mixture(4000, seed=500 + t)
        y = simulate_labels(real, a, C, np.random.default_rng(t))
        thetas.append(ts.ridge_model(x, ts.centred_onehot(y, C)))
    w = ts.svd_weights(thetas)
    assert w[-1] < 0.2 * w[:-1].min(), w


def test_svd_weights_unchanged_when_synthetic_classes_are_permuted():
    f, labels, thetas = mixture_thetas([0.99, 0.7, 0.4])
    base = ts.svd_weights(thetas)
    perm = np.array([2, 4, 0, 1, 3])
    permuted = thetas[:2] + [ts.label_theta(f, perm[labels[2]], c=C)] + thetas[3:]
    np.testing.assert_allclose(ts.svd_weights(permuted), base, rtol=1e-10)
    np.testing.assert_allclose(ts.svd_weights(thetas, rank=3),
                               ts.svd_weights([t[:, ::-1] for t in thetas], rank=3), rtol=1e-10)


def test_svd_weights_default_rank_and_vectors():
    _, _, thetas = mixture_thetas([0.99])
    assert np.allclose(ts.svd_weights(thetas), ts.svd_weights(thetas, rank=C - 1))
    assert not np.allclose(ts.svd_weights(thetas, rank=1), ts.svd_weights(thetas, rank=C - 1))
    rng = np.random.default_rng(22)
    u = rng.standard_normal(10)
    w = ts.svd_weights([u, 2 * u, rng.standard_normal(10)])  # vectors: the paper's form
    assert w[1] == pytest.approx(2 * w[0], rel=1e-9)


# --- rotation map ---------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 7, 300])
def test_rotation_map_orthogonal_identity_at_zero_and_seeded(d):
    m = ts.rotation_map(d, 0.7, seed=3)
    np.testing.assert_allclose(m.T @ m, np.eye(d), atol=1e-12)
    assert np.linalg.det(m) == pytest.approx(1.0, abs=1e-9)
    assert (ts.rotation_map(d, 0.0, seed=3) == np.eye(d)).all()
    assert (ts.rotation_map(d, 0.7, seed=3) == m).all()
    if d >= 3:  # in 2-d every rotation by φ is ±φ in the one plane, whatever V
        assert not np.allclose(ts.rotation_map(d, 0.7, seed=4), m)


def test_rotation_map_angle_and_fixed_axis():
    d, phi = 7, 0.9
    m = ts.rotation_map(d, phi, seed=5)
    # eigenvalues: ⌊d/2⌋ pairs exp(±iφ) and one 1 (odd d): trace = 1 + 2·3·cos φ
    assert np.trace(m) == pytest.approx(1 + 2 * (d // 2) * np.cos(phi), abs=1e-12)
    assert np.sort(np.abs(np.angle(np.linalg.eigvals(m))))[-1] == pytest.approx(phi, abs=1e-9)
    # the same seed: the rotation by φ₁ then φ₂ is the rotation by φ₁ + φ₂
    np.testing.assert_allclose(ts.rotation_map(d, 0.3, seed=5) @ ts.rotation_map(d, 0.6, seed=5),
                               m, atol=1e-12)


# --- input checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ts.covariance(np.ones(3)), "X must be a 2-d"),
        (lambda: ts.cov_rv(np.ones((3, 2)), np.ones((3, 3))), "X1 has 2 columns but X2 has 3"),
        (lambda: ts.cov_sim(np.full((3, 2), np.nan), np.ones((3, 2))), "X1 has 6 non-finite"),
        (lambda: ts.cov_sim(np.ones((3, 2)), np.ones((3, 2)), keep=0.0), "keep=0.0"),
        (lambda: ts.cov_rv(np.zeros((3, 2)), np.ones((3, 2))), "X1 is all zeros"),
        (lambda: ts.centred_onehot(np.array([0, 5]), 3), "outside \\[0, 3\\)"),
        (lambda: ts.centred_onehot(np.array([-1, -1]), 3), "no labelled rows"),
        (lambda: ts.centred_onehot(np.array([0.5]), 3), "integer label array"),
        (lambda: ts.ridge_model(np.ones((4, 2)), np.ones((3, 1))), "X has 4 rows but Y has 3"),
        (lambda: ts.ridge_model(np.ones((4, 2)), np.ones((4, 1)), lam=0), "lam=0"),
        (lambda: ts.ridge_model(np.ones((4, 2)), np.ones((4, 1))), "no variance"),
        (lambda: ts.model_sim(np.eye(4), np.array([0, 0, 0, -1]), np.eye(4), np.array([0, 1, 0, 1]),
                              c1=2, c2=2), "y1 has fewer than 2 distinct classes"),
        (lambda: ts.model_sim(np.eye(4), np.array([0, 1, 0]), np.eye(4), np.array([0, 1, 0, 1]),
                              c1=2, c2=2), "X1 has 4 rows but y1 has 3"),
        (lambda: ts.linear_cka(np.ones((5, 2)), np.eye(5)), "A \\(centred"),
        (lambda: ts.linear_cka(np.eye(5), np.eye(4)), "A has 5 rows but B has 4"),
        (lambda: ts.svd_weights([]), "thetas is empty"),
        (lambda: ts.svd_weights([np.ones((3, 2)), np.ones((4, 2))]), "thetas\\[1\\] has 4 rows"),
        (lambda: ts.svd_weights([np.ones((3, 2))], rank=5), "rank=5"),
        (lambda: ts.rotation_map(0, 0.1, seed=0), "d=0"),
        (lambda: ts.rotation_map(3, float("nan"), seed=0), "phi=nan"),
        (lambda: ts.rotation_map(3, 0.1, seed=-1), "seed=-1"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_cg_solves_spd_systems_and_reports_non_convergence():
    rng = np.random.default_rng(24)
    q = random_rotation(12, 25)
    a = q @ np.diag(np.linspace(1.0, 5.0, 12)) @ q.T
    b = rng.standard_normal((12, 3))
    x = ts._cg(lambda v: a @ v, b, max_iter=13)
    np.testing.assert_allclose(a @ x, b, atol=1e-8)
    assert ts._cg(lambda v: a @ v, b, max_iter=1) is None


# --- window matrix --------------------------------------------------------------------


def windows_and_table(n=300, w=3, v=40, dim=8, seed=26):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((v, dim)).astype(np.float32) + 0.5
    table[0] = 0.0  # padding row
    return rng.integers(0, v, (n, w)), table


def test_window_matrix_products_equal_the_dense_matrix():
    ids, table = windows_and_table()
    wm = ts.WindowMatrix(ids, table)
    dense = table[ids].reshape(len(ids), -1).astype(np.float64)
    assert wm.shape == dense.shape
    np.testing.assert_array_equal(wm.toarray(), dense)
    rng = np.random.default_rng(27)
    v, u = rng.standard_normal((dense.shape[1], 4)), rng.standard_normal((len(ids), 4))
    np.testing.assert_allclose(wm.matmul(v), dense @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wm.rmatmul(u), dense.T @ u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wm.column_means(), dense.mean(axis=0), rtol=1e-12, atol=1e-15)
    assert wm.squared_sum() == pytest.approx(float(np.sum(dense**2)), rel=1e-12)
    rows = np.arange(len(ids)) % 3 == 0
    np.testing.assert_array_equal(wm[rows].toarray(), dense[rows])


@pytest.mark.parametrize("solver", ["cg", "direct"])
def test_window_matrix_ridge_and_model_sim_equal_the_dense_ones(solver):
    ids, table = windows_and_table(n=600)
    dense = table[ids].reshape(len(ids), -1)
    y1 = np.random.default_rng(28).integers(0, 3, 600)
    y2 = np.where(np.arange(600) % 5 == 0, ts.MASK, (y1 + (np.arange(600) % 7 == 0)) % 3)
    y = ts.centred_onehot(y1, 3)
    np.testing.assert_allclose(ts.ridge_model(ts.WindowMatrix(ids, table), y, solver=solver),
                               ts.ridge_model(dense, y, solver="direct"), rtol=1e-7, atol=1e-12)
    got = ts.model_sim(ts.WindowMatrix(ids, table), y1, ts.WindowMatrix(ids, table), y2,
                       c1=3, c2=3, solver=solver)
    assert got == pytest.approx(ts.model_sim(dense, y1, dense, y2, c1=3, c2=3), abs=1e-9)


@pytest.mark.parametrize(
    ("ids", "table", "match"),
    [
        (np.array([1, 2]), np.ones((4, 2)), "ids must be a non-empty \\(n, W\\)"),
        (np.array([[1, 4]]), np.ones((4, 2)), "table has 4 rows"),
        (np.array([[1, 2]]), np.ones(4), "table must be a non-empty \\(V, D\\)"),
        (np.array([[1, 2]]), np.full((4, 2), np.inf), "table \\(rows the ids use\\)"),
    ],
)
def test_window_matrix_bad_input(ids, table, match):
    with pytest.raises(ValueError, match=match):
        ts.WindowMatrix(ids, table)
