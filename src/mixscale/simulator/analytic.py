r"""A documented synthetic objective: a data-mixing law nested in a joint scaling law.

For evaluation domain :math:`j`, a model with :math:`N` non-embedding parameters trained for :math:`D` tokens on
mixture :math:`w` over the training domains reaches validation loss (nats/token)

.. math::

    L_j(w, N, D) = E_j + \Big[ (N_j / N)^{\alpha/\beta} + D_j / U_j(w, N, D) \Big]^{\beta},
    \qquad U_j = \epsilon D + \sum_i T_{ji}(N)\, U_i R^* \big(1 - e^{-D w_i / (U_i R^*)}\big).

* The bracket is the Kaplan et al. (2020) joint law in :math:`N` and :math:`D`: loss falls as power laws in
  scale and steps, and data only helps as far as the model has capacity to use it.
* :math:`U_j` is the number of *useful* tokens for domain :math:`j`: its own tokens plus transfer
  :math:`T_{ji}(N) \in [0, 1)` from the others (Wikipedia helps books, StackExchange helps code, ...), in the
  spirit of the data-mixing laws of Ye et al. (2024), where loss on a domain is a smooth monotone function of a
  combination of the proportions. Transfer grows with scale, :math:`T_{ji}(N) = T_{ji} \min(1, (N/10^9)^{\tau})`
  for :math:`i \ne j`: larger models generalize more across domains.
* Each training domain holds :math:`U_i` unique tokens; tokens drawn beyond that are repeats and are discounted
  with the saturating form of the data-constrained scaling law (Muennighoff et al., 2023), half-life
  :math:`R^*` epochs. Small, high-quality domains (Wikipedia, books, arXiv) are worth upweighting in a short run
  but get repeated in a long one.
* Because the capacity constants :math:`N_j` differ (code and maths are "hard"), a small model cannot use much
  data on a hard domain and the best mixture for it leans to easy domains; as :math:`N` grows the hard domains
  become worth their tokens; and the more tokens a run sees, the more the small domains repeat. **The optimal
  mixture therefore moves with scale and with steps**, so a single cheap proxy is biased, as observed in practice
  (seed paper, Fig. 2). On the default space the best mixture for a 20M model at 6000 steps has a target regret
  on ``loss:avg`` larger than the best of three random mixtures, while the cheap runs still rank mixtures with a
  positive correlation to the target.
* Seed noise is multiplicative: a run with seed :math:`s` reports :math:`L \cdot \exp(\sigma_N \xi_s + \sigma_e
  \eta_{s,t})` with a per-run offset :math:`\xi_s` shared along the learning curve, a small per-evaluation
  jitter :math:`\eta_{s,t}`, and :math:`\sigma_N` shrinking with scale (small models are noisier).

Metrics: ``loss:<domain>`` for each training domain and two held-out domains (``c4``, ``commoncrawl``, evaluated
only), ``loss:avg`` (mean over all seven), and ``accuracy`` (a HellaSwag-like score, *maximized*, that rises as a
sigmoid of the held-out loss). The noise-free target value of any mixture is closed form, so the optimum at the
target is found by dense search (:func:`mixscale.objective.dense_optimum`) and regret is exact.

The default ladder and step grid mirror the seed paper's (20M ... 1B parameters; 6000 / 12000 / 19700 steps of
0.5M tokens, 1M tokens at 1B), so query costs have the same ratios as there, up to our 6·N·D convention.
"""

from __future__ import annotations

import numpy as np

from mixscale.errors import ValidationError
from mixscale.objective import Metric, Observation, dense_optimum
from mixscale.space import Config, Space

TRAIN_DOMAINS = ("wikipedia", "stackexchange", "github", "arxiv", "book")
EVAL_DOMAINS = TRAIN_DOMAINS + ("c4", "commoncrawl")

#: Transfer T[j, i]: how much a token of training domain i counts for evaluation domain j.
TRANSFER = np.array(
    [
        # wiki  se    github arxiv book
        [1.00, 0.30, 0.05, 0.25, 0.45],  # wikipedia
        [0.30, 1.00, 0.35, 0.30, 0.15],  # stackexchange
        [0.05, 0.30, 1.00, 0.10, 0.02],  # github
        [0.30, 0.25, 0.10, 1.00, 0.15],  # arxiv
        [0.40, 0.10, 0.02, 0.10, 1.00],  # book
        [0.55, 0.35, 0.05, 0.15, 0.55],  # c4 (held out)
        [0.50, 0.45, 0.20, 0.20, 0.45],  # commoncrawl (held out)
    ]
)
#: Irreducible loss E_j (nats/token).
IRREDUCIBLE = np.array([1.55, 1.45, 0.75, 1.10, 1.75, 1.85, 1.95])
#: Capacity constants N_j (hard domains need larger models) and data constants D_j.
CAPACITY = np.array([2.0e7, 5.0e7, 8.0e8, 5.0e8, 2.0e7, 3.0e7, 5.0e7])
DATA = np.array([4.0e8, 5.0e8, 6.0e8, 6.0e8, 5.0e8, 6.0e8, 7.0e8])
ALPHA, BETA, EPS, TAU = 0.34, 0.28, 0.02, 0.3
#: Unique tokens available per training domain, and the repetition half-life R* (in epochs).
UNIQUE = np.array([1.5e9, 4e9, 3e10, 2e9, 2e9])
R_STAR = 2.0

DEFAULT_LADDER = (
    ("20M", 20e6, 2**19),
    ("60M", 60e6, 2**19),
    ("150M", 150e6, 2**19),
    ("300M", 300e6, 2**19),
    ("500M", 500e6, 2**19),
    ("700M", 700e6, 2**19),
    ("1B", 1000e6, 2**20),
)
DEFAULT_STEPS = (6000, 12000, 19700)

METRICS = tuple(f"loss:{d}" for d in EVAL_DOMAINS) + ("loss:avg", "accuracy")


def losses(w: np.ndarray, params: float, tokens: np.ndarray | float) -> np.ndarray:
    """Noise-free losses of all evaluation domains, shape ``(n_mixtures, 7)`` for ``w`` of shape ``(n, 5)``.

    ``tokens`` may be a 1-D array (a learning curve); the result then has a leading axis of that length.
    """
    w = np.atleast_2d(w)
    own = np.eye(*TRANSFER.shape)
    transfer = own + (TRANSFER - own) * min(1.0, (params / 1e9) ** TAU)
    tokens = np.asarray(tokens, dtype=float)[..., None, None]
    seen = tokens * np.clip(w, 0.0, None)  # (..., n, 5) tokens drawn from each domain
    effective = UNIQUE * R_STAR * -np.expm1(-seen / (UNIQUE * R_STAR))  # repetition-discounted tokens
    useful = EPS * tokens[..., 0] + effective @ transfer.T  # (..., n, 7)
    bracket = (CAPACITY / params) ** (ALPHA / BETA) + DATA / useful
    return IRREDUCIBLE + bracket**BETA


def metric_from_losses(name: str, L: np.ndarray) -> np.ndarray:
    if name == "loss:avg":
        return L.mean(axis=-1)
    if name == "accuracy":
        return 0.25 + 0.6 / (1.0 + np.exp((L[..., 5] - 2.7) / 0.25))
    return L[..., EVAL_DOMAINS.index(name.split(":", 1)[1])]


class AnalyticSimulator:
    """The synthetic objective above, on the default 5-domain, 7-scale, 3-step space (or a custom ladder).

    ``noise`` scales the seed noise (0 gives a deterministic objective).
    """

    def __init__(
        self,
        metric: str = "loss:c4",
        noise: float = 1.0,
        scales: tuple = DEFAULT_LADDER,
        steps: tuple[int, ...] = DEFAULT_STEPS,
        curve_points: int = 10,
    ) -> None:
        if metric not in METRICS:
            raise ValidationError("metric", f"{metric!r} is not one of {list(METRICS)}")
        if noise < 0:
            raise ValidationError("noise", "must be >= 0")
        self.space = Space(TRAIN_DOMAINS, scales, steps)
        self.metric = Metric(metric, minimize=metric != "accuracy")
        self.noise = float(noise)
        self.curve_points = int(curve_points)
        self._optimum: tuple[np.ndarray, float] | None = None

    def cost(self, scale: str, steps: int) -> float:
        return self.space.cost(scale, steps)

    def _value(self, w: np.ndarray, scale: str, steps) -> np.ndarray:
        s = self.space.scale(scale)
        tokens = np.asarray(steps, dtype=float) * s.tokens_per_step
        return metric_from_losses(self.metric.name, losses(w, s.params, tokens))

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        w = self.space.validate_mixture(config.mixture)
        s = self.space.scale(config.scale)
        z = int(config.steps)
        points = np.unique(np.linspace(z / self.curve_points, z, self.curve_points).round().astype(int))
        L = losses(w, s.params, points * s.tokens_per_step)[:, 0, :]  # (t, 7)
        rng = np.random.default_rng(seed)
        sigma = self.noise * 0.004 * (s.params / 2e7) ** -0.12
        offset = sigma * rng.standard_normal()
        jitter = 0.25 * sigma * rng.standard_normal(len(points))
        L = L * np.exp(offset + jitter)[:, None]
        values = metric_from_losses(self.metric.name, L)
        curve = tuple((int(t), float(v)) for t, v in zip(points, values, strict=True))
        return Observation(float(values[-1]), self.cost(config.scale, z), curve)

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        scale, steps = self.space.target
        return self._value(np.atleast_2d(mixtures), scale, steps)

    def value_at(self, mixtures: np.ndarray, scale: str, steps: int) -> np.ndarray:
        """Noise-free metric of ``mixtures`` at any ``(scale, steps)``."""
        return self._value(np.atleast_2d(mixtures), scale, steps)

    def optimum(self) -> tuple[np.ndarray, float]:
        if self._optimum is None:
            self._optimum = dense_optimum(self, n=40000)
        return self._optimum
