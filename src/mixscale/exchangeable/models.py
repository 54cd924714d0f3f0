"""Transformers over sets of (x, y) pairs: one trunk, two attention patterns, two predictive heads.

Tokens are embeddings of ``[x, y, is_query]`` (plus optional Fourier features of x) by a two-layer MLP; a
query token carries ``y = 0`` and ``is_query = 1``. There is no positional encoding: the only notion of order
is the attention mask. The trunk is a stack of pre-LN blocks ``h ← h + MHA(LN h); h ← h + FF(LN h)``.

Attention patterns (``True`` = may attend), for ``N`` context tokens ``c_1..c_N`` followed by ``M`` queries:

- **causal**: ``c_i`` sees ``c_{≤ i}``; query ``q_j`` sees ``c_{< p_j}`` and itself, where ``p_j`` is its
  *prefix length*. In training ``N = n − 1`` and ``p_j = j − 1`` (1-based j), so one pass gives ``p(y_j | x_j,
  D_{<j})`` for every prefix, including the empty one. Because a context token never sees a later one, context
  keys/values can be cached and appended during generation (see :mod:`.inference`).
- **cpi** (conditionally permutation-invariant, PFN/TNP style): context tokens see all context tokens; query
  ``q_j`` sees all context and itself. Adding a point changes every context representation, so generation must
  re-encode.

Heads: :class:`GaussianHead` with ``σ = σ_min + (1 − σ_min)·softplus(·)`` (σ_min = 0.05 by default) and
:class:`BarHead`, a piecewise-constant (Riemann) density on fixed bins.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixscale.errors import ValidationError

__all__ = [
    "ModelConfig",
    "ExchangeableTransformer",
    "GaussianHead",
    "BarHead",
    "causal_mask",
    "cpi_mask",
]

KV = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters; defaults are the seed paper's reference size."""

    x_dim: int = 1
    attention: str = "causal"
    n_layers: int = 4
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    head: str = "gaussian"
    min_std: float = 0.05
    n_bins: int = 64
    y_low: float = -4.0
    y_high: float = 4.0
    fourier_features: int = 0
    fourier_max_freq: float = 32.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "x_dim": self.x_dim >= 1,
            "attention": self.attention in ("causal", "cpi"),
            "n_layers": self.n_layers >= 1,
            "d_model": self.d_model >= 1 and self.d_model % max(self.n_heads, 1) == 0,
            "n_heads": self.n_heads >= 1,
            "d_ff": self.d_ff >= 1,
            "head": self.head in ("gaussian", "bar"),
            "min_std": 0 < self.min_std < 1,
            "n_bins": self.n_bins >= 2,
            "y_high": self.y_high > self.y_low,
            "fourier_features": self.fourier_features >= 0,
            "dropout": 0.0 <= self.dropout < 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValidationError(f"model.{name}", f"invalid value {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def causal_mask(n_ctx: int, q_prefix: Tensor) -> Tensor:
    """Boolean (N + M, N + M) mask of the causal layout.

    Context row i (0-based) may attend context columns ``≤ i``; query row j may attend context columns ``<
    q_prefix[j]`` and itself, and no other query.
    """
    m = q_prefix.numel()
    t = n_ctx + m
    mask = torch.zeros(t, t, dtype=torch.bool)
    mask[:n_ctx, :n_ctx] = torch.ones(n_ctx, n_ctx, dtype=torch.bool).tril()
    mask[n_ctx:, :n_ctx] = torch.arange(n_ctx)[None, :] < q_prefix.reshape(-1, 1)
    mask[n_ctx:, n_ctx:] = torch.eye(m, dtype=torch.bool)
    return mask


def cpi_mask(n_ctx: int, n_qry: int) -> Tensor:
    """Boolean (N + M, N + M) mask of the CPI layout: bidirectional context, queries see context and self."""
    t = n_ctx + n_qry
    mask = torch.zeros(t, t, dtype=torch.bool)
    mask[:, :n_ctx] = True
    mask[n_ctx:, n_ctx:] = torch.eye(n_qry, dtype=torch.bool)
    return mask


def with_key_padding(mask: Tensor, key_valid: Tensor | None) -> Tensor:
    """Combine a (T, K) mask with a (B, K) key-validity mask → (B, 1, T, K); every row keeps its own key.

    Row t's own key is column ``K − T + t`` (the new tokens are the last T keys), so a row never ends up with
    no key at all (which would give NaNs).
    """
    if key_valid is None:
        return mask
    t, k = mask.shape
    own = torch.zeros(t, k, dtype=torch.bool, device=mask.device)
    own[torch.arange(t), k - t + torch.arange(t)] = True
    return ((mask[None] & key_valid[:, None, :]) | own[None])[:, None]


class GaussianHead(nn.Module):
    """Gaussian predictive ``N(μ, σ²)`` with ``σ = σ_min + (1 − σ_min)·softplus(s)``."""

    n_params = 2
    noise_dim = 1

    def __init__(self, d_model: int, min_std: float) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, 2)
        self.min_std = min_std

    def forward(self, h: Tensor) -> Tensor:
        return self.proj(h)

    def mean_std(self, params: Tensor) -> tuple[Tensor, Tensor]:
        std = self.min_std + (1.0 - self.min_std) * F.softplus(params[..., 1])
        return params[..., 0], std

    def log_prob(self, params: Tensor, y: Tensor) -> Tensor:
        mu, std = self.mean_std(params)
        return -0.5 * ((y - mu) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)

    def draw_noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        return torch.randn(*shape, 1, generator=generator)

    def sample(self, params: Tensor, noise: Tensor) -> Tensor:
        mu, std = self.mean_std(params)
        return mu + std * noise[..., 0]


class BarHead(nn.Module):
    """Riemann ("bar") distribution: probabilities ``π_k`` on fixed bins ``[b_k, b_{k+1})`` of ``[y_low,
    y_high]``.

    Density ``p(y) = π_{k(y)} / (b_{k+1} − b_k)``; targets outside the range are clamped into the edge bins.
    Mean ``Σ π_k c_k``; variance ``Σ π_k (c_k² + w_k²/12) − mean²``. Sampling draws the bin by inverse CDF
    from one uniform and the position inside the bin from a second uniform.
    """

    noise_dim = 2

    def __init__(self, d_model: int, n_bins: int, y_low: float, y_high: float) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, n_bins)
        self.register_buffer("borders", torch.linspace(y_low, y_high, n_bins + 1), persistent=False)
        self.n_params = n_bins

    def forward(self, h: Tensor) -> Tensor:
        return self.proj(h)

    def _widths(self) -> Tensor:
        return self.borders[1:] - self.borders[:-1]

    def mean_std(self, params: Tensor) -> tuple[Tensor, Tensor]:
        p = params.softmax(-1)
        c = 0.5 * (self.borders[1:] + self.borders[:-1])
        w = self._widths()
        mean = (p * c).sum(-1)
        var = (p * (c**2 + w**2 / 12)).sum(-1) - mean**2
        return mean, var.clamp_min(1e-12).sqrt()

    def log_prob(self, params: Tensor, y: Tensor) -> Tensor:
        n_bins = params.shape[-1]
        idx = (torch.bucketize(y.contiguous(), self.borders, right=True) - 1).clamp(0, n_bins - 1)
        logp = params.log_softmax(-1).gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        return logp - torch.log(self._widths()[idx])

    def draw_noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        return torch.rand(*shape, 2, generator=generator)

    def sample(self, params: Tensor, noise: Tensor) -> Tensor:
        cdf = params.softmax(-1).cumsum(-1)
        idx = torch.searchsorted(cdf, noise[..., :1].contiguous()).squeeze(-1).clamp(max=params.shape[-1] - 1)
        return self.borders[idx] + noise[..., 1] * self._widths()[idx]


class SelfAttention(nn.Module):
    """Multi-head self-attention; ``forward`` also returns the tokens' own (k, v) (B, heads, T, d_h)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, h: Tensor, mask: Tensor | None) -> tuple[Tensor, KV]:
        b, t, d = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(o.transpose(1, 2).reshape(b, t, d)), (k, v)

    def decode(self, h: Tensor, cache: Tensor, pos: int, bias: Tensor, last_only: bool = False) -> Tensor:
        """Attention of T new tokens (B, T, d) over a preallocated cache (2, B·heads, S, d_h) filled up to ``pos``.

        Writes the tokens' keys/values at slots ``pos..pos+T−1`` in place and attends over slots ``< pos + T``
        with the additive ``bias`` (1 or B·heads, T, pos + T). ``last_only``: output (B, 1, d) for the last
        token only (the others then just contribute their keys/values).
        """
        b, t, d = h.shape
        nh, dh = self.n_heads, d // self.n_heads
        qkv = self.qkv(h).view(b, t, 3, nh, dh).permute(2, 0, 3, 1, 4).reshape(3, b * nh, t, dh)
        cache[:, :, pos : pos + t] = qkv[1:]  # keys and values in one in-place write
        keys, values = cache[0, :, : pos + t], cache[1, :, : pos + t]
        q = qkv[0]
        if last_only:
            q, bias, t = q[:, -1:], bias[:, -1:], 1
        # hand-written: for a few queries against the cache, one baddbmm (scale and bias fused) + softmax + bmm
        # is cheaper than scaled_dot_product_attention with a mask
        att = torch.baddbmm(bias, q, keys.transpose(1, 2), alpha=dh**-0.5).softmax(-1)
        o = torch.bmm(att, values).view(b, nh, t, dh).transpose(1, 2).reshape(b, t, d)
        return self.out(o)


class Block(nn.Module):
    """Pre-LN transformer block with GELU feed-forward; dropout (training only) on attention weights and on both
    residual branches, as in ``nn.TransformerEncoderLayer``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))

    def forward(self, h: Tensor, mask: Tensor | None) -> tuple[Tensor, KV]:
        a, kv = self.attn(self.ln1(h), mask)
        h = h + self.drop(a)
        return h + self.drop(self.ff(self.ln2(h))), kv

    def decode(self, h: Tensor, cache: Tensor, pos: int, bias: Tensor, last_only: bool = False) -> Tensor:
        """:meth:`forward` for new tokens against a key/value cache (see :meth:`SelfAttention.decode`)."""
        a = self.attn.decode(self.ln1(h), cache, pos, bias, last_only)
        h = (h[:, -1:] if last_only else h) + a
        return h + self.ff(self.ln2(h))


class ExchangeableTransformer(nn.Module):
    """Predicts ``p(y | x, D)`` for query inputs given a context set ``D``; see the module docstring."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_in = cfg.x_dim + 2 + 2 * cfg.fourier_features * cfg.x_dim
        if cfg.fourier_features:
            freqs = torch.logspace(-1.0, math.log10(cfg.fourier_max_freq), cfg.fourier_features)
            self.register_buffer("freqs", freqs, persistent=False)
        self.embed_mlp = nn.Sequential(nn.Linear(n_in, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head: GaussianHead | BarHead
        if cfg.head == "gaussian":
            self.head = GaussianHead(cfg.d_model, cfg.min_std)
        else:
            self.head = BarHead(cfg.d_model, cfg.n_bins, cfg.y_low, cfg.y_high)

    @property
    def is_causal(self) -> bool:
        return self.cfg.attention == "causal"

    def features(self, x: Tensor, y: Tensor, is_query: Tensor) -> Tensor:
        """Embedding inputs (B, T, n_in): columns ``x`` (x_dim), ``y`` (column ``x_dim``), ``is_query``, then the
        sin/cos Fourier features of x. ``y`` and ``is_query`` are (B, T)."""
        feats = [x, y.unsqueeze(-1), is_query.expand_as(y).unsqueeze(-1)]
        if self.cfg.fourier_features:
            ang = x.unsqueeze(-1) * self.freqs  # (B, T, d, F)
            feats += [ang.sin().flatten(-2), ang.cos().flatten(-2)]
        return torch.cat(feats, -1)

    def embed(self, x: Tensor, y: Tensor | None, is_query: Tensor | None = None) -> Tensor:
        """Tokens for (B, T, d) inputs; ``y=None`` makes query tokens (y = 0, is_query = 1).

        A mixed batch of context and query tokens passes ``y`` (0 at queries) and a 0/1 ``is_query`` (B, T).
        """
        if is_query is None:
            is_query = torch.full(x.shape[:-1], 1.0 if y is None else 0.0, device=x.device)
        y = torch.zeros(x.shape[:-1], device=x.device) if y is None else y
        return self.embed_mlp(self.features(x, y, is_query))

    def trunk(self, h: Tensor, mask: Tensor | None) -> tuple[Tensor, list[KV]]:
        """Run the blocks; returns the final states (after ``ln_f``) and every layer's (k, v) of the tokens."""
        presents: list[KV] = []
        for block in self.blocks:
            h, kv = block(h, mask)
            presents.append(kv)
        return self.ln_f(h), presents

    def decode(self, h: Tensor, caches: list[Tensor], pos: int, bias: Tensor) -> Tensor:
        """:meth:`trunk` for new tokens (B, T, d) against per-layer key/value caches filled up to ``pos`` (see
        :meth:`SelfAttention.decode`); returns the final state of the last token (B, d).

        Only the last token's output is needed, so the last block runs attention and feed-forward for it alone;
        the other tokens only write their keys/values there.
        """
        for i, (block, cache) in enumerate(zip(self.blocks, caches, strict=True)):
            h = block.decode(h, cache, pos, bias, last_only=i == len(self.blocks) - 1)
        return self.ln_f(h[:, -1])

    def forward(
        self,
        xc: Tensor,
        yc: Tensor,
        xq: Tensor,
        q_prefix: Tensor | None = None,
        ctx_valid: Tensor | None = None,
    ) -> Tensor:
        """Head parameters (B, M, P) for queries ``xq`` (B, M, d) given context ``(xc, yc)`` (B, N, d), (B,
        N).

        ``q_prefix`` (M,) — causal model only — sets how many leading context points each query sees (default:
        all N). ``ctx_valid`` (B, N) marks padded context entries as invisible.
        """
        n, m = xc.shape[1], xq.shape[1]
        if self.is_causal:
            prefix = torch.full((m,), n) if q_prefix is None else q_prefix.cpu()
            mask = causal_mask(n, prefix)
        else:
            if q_prefix is not None:
                raise ValueError("q_prefix is only defined for the causal attention pattern")
            mask = cpi_mask(n, m)
        mask = mask.to(xc.device)
        if ctx_valid is not None:
            mask = with_key_padding(
                mask,
                torch.cat([ctx_valid, torch.ones(xq.shape[0], m, dtype=torch.bool, device=xq.device)], 1),
            )
        h = torch.cat([self.embed(xc, yc), self.embed(xq, None)], 1)
        out, _ = self.trunk(h, mask)
        return self.head(out[:, n:])

    def log_prob(self, params: Tensor, y: Tensor) -> Tensor:
        return self.head.log_prob(params, y)

    def training_loss(self, x: Tensor, y: Tensor, generator: torch.Generator, min_context: int = 0) -> Tensor:
        """Mean negative log-likelihood of one batch of sequences (B, n, d), (B, n).

        - causal: context ``(x_{1..n−1}, y_{1..n−1})``, queries at every ``x_j`` with prefix ``j − 1``:
          ``−(1/n) Σ_j log p(y_j | x_j, D_{<j})``.
        - cpi: one split size ``m ~ U{min_context..n−1}`` per batch; loss on the ``n − m`` targets only.
        """
        n = x.shape[1]
        if self.is_causal:
            params = self(x[:, :-1], y[:, :-1], x, q_prefix=torch.arange(n))
            return -self.log_prob(params, y).mean()
        m = int(torch.randint(min_context, n, (1,), generator=generator))
        params = self(x[:, :m], y[:, :m], x[:, m:])
        return -self.log_prob(params, y[:, m:]).mean()
