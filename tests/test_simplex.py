import numpy as np
import pytest
from scipy import stats

from mixscale import simplex


@pytest.mark.parametrize("k", [2, 3, 5])
def test_dirichlet_one_is_uniform_on_the_simplex(k):
    rng = np.random.default_rng(0)
    W = simplex.sample_dirichlet(rng, 4000, k)
    assert np.allclose(W.sum(1), 1.0) and (W >= 0).all()
    # Under the uniform distribution each marginal is Beta(1, k-1).
    for i in range(k):
        assert stats.kstest(W[:, i], stats.beta(1, k - 1).cdf).pvalue > 1e-3
    # The minimum coordinate of a uniform point: P(min > t) = (1 - k t)^(k-1).
    t = 0.05
    expected = (1 - k * t) ** (k - 1)
    assert abs((W.min(1) > t).mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / len(W))


def test_softmax_of_a_box_is_not_uniform():
    """The sampler we avoid: softmax of U[-3, 3]^k under-samples the faces, which the KS test detects."""
    rng = np.random.default_rng(1)
    z = rng.uniform(-3, 3, size=(4000, 5))
    W = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert stats.kstest(W[:, 0], stats.beta(1, 4).cdf).pvalue < 1e-3


def test_ilr_round_trip_and_isometry():
    rng = np.random.default_rng(2)
    W = simplex.sample_dirichlet(rng, 50, 4, alpha=3.0)
    back = simplex.ilr_inverse(simplex.ilr(W, eps=0.0), eps=0.0)
    assert np.allclose(back, W, atol=1e-10)
    # Aitchison distance equals Euclidean distance of ilr coordinates.
    a, b = W[0], W[1]
    clr = lambda x: np.log(x) - np.log(x).mean()  # noqa: E731
    assert np.isclose(np.linalg.norm(clr(a) - clr(b)), np.linalg.norm(simplex.ilr(a, 0) - simplex.ilr(b, 0)))


def test_projection_lands_on_the_simplex_and_fixes_simplex_points():
    rng = np.random.default_rng(3)
    V = rng.normal(size=(100, 6))
    P = simplex.project(V)
    assert np.allclose(P.sum(1), 1.0) and (P >= 0).all()
    W = simplex.sample_dirichlet(rng, 10, 6)
    assert np.allclose(simplex.project(W), W)


@pytest.mark.parametrize("k", [3, 7])
def test_sobol_design_is_uniform_and_more_even_than_iid(k):
    W = simplex.sample_sobol(np.random.default_rng(0), 1024, k)
    assert np.allclose(W.sum(1), 1.0) and (W >= 0).all()
    for i in range(k):
        assert stats.kstest(W[:, i], stats.beta(1, k - 1).cdf).pvalue > 1e-3

    # Low discrepancy: a 64-point design estimates the mean mixture (1/k each) better than 64 i.i.d. draws.
    def error(w):
        return np.abs(w.mean(0) - 1.0 / k).max()

    iid = np.mean([error(simplex.sample_dirichlet(np.random.default_rng(s), 64, k)) for s in range(50)])
    qmc = np.mean([error(simplex.sample_sobol(np.random.default_rng(s), 64, k)) for s in range(50)])
    assert qmc < 0.5 * iid
    a = simplex.sample_sobol(np.random.default_rng(3), 10, k)
    assert np.array_equal(a, simplex.sample_sobol(np.random.default_rng(3), 10, k))
    assert not np.array_equal(a, simplex.sample_sobol(np.random.default_rng(4), 10, k))
