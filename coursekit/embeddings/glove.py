"""GloVe: a log-bilinear model fitted to co-occurrence counts (chapter 01).

GloVe (Pennington et al. 2014) is not a deep model: it fits ``w_i · w̃_j + b_i + b̃_j ≈ log X_ij``
by weighted least squares over the non-zero counts, with ``f(x) = min(1, (x / x_max)^α)`` so that
rare pairs count less and frequent pairs do not dominate:

    J = Σ_{i,j: X_ij > 0} f(X_ij) (w_i · w̃_j + b_i + b̃_j - log X_ij)²

The word vectors are ``W + W̃`` (the paper's choice).

Shape legend: ``B`` batch of non-zero entries, ``C`` vector width, ``V`` vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from coursekit.embeddings._threads import one_thread
from coursekit.embeddings.cooccurrence import Cooccurrence

__all__ = [
    "GloVe",
    "GloVeConfig",
    "glove_adagrad_step",
    "glove_gradients",
    "glove_loss",
    "glove_weight",
    "train_glove",
]


def glove_weight(counts: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weighting ``f(x) = min(1, (x / x_max)^alpha)``.

    >>> glove_weight(torch.tensor([1.0, 100.0, 500.0]), x_max=100.0, alpha=0.5).tolist()
    [0.10000000149011612, 1.0, 1.0]
    """
    if x_max <= 0:
        raise ValueError(f"x_max must be positive, got {x_max}")
    return (counts / x_max).pow(alpha).clamp(max=1.0)


def glove_loss(
    w: torch.Tensor,
    w_tilde: torch.Tensor,
    b: torch.Tensor,
    b_tilde: torch.Tensor,
    log_counts: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """The weighted least-squares GloVe loss, summed over a batch of non-zero entries.

    Shape:
        w, w_tilde ``(B, C)``; b, b_tilde, log_counts, weights ``(B,)``; output scalar.

    >>> one = torch.ones(1, 2); glove_loss(one, one, torch.zeros(1), torch.zeros(1),
    ...                                    torch.zeros(1), torch.ones(1)).item()  # (2 - 0)^2
    4.0
    """
    if w.dim() != 2 or w.shape != w_tilde.shape:
        raise ValueError(
            f"w and w_tilde must be (B, C); got {tuple(w.shape)}, {tuple(w_tilde.shape)}"
        )
    error = (w * w_tilde).sum(-1) + b + b_tilde - log_counts  # (B,)
    return (weights * error.square()).sum()


class GloVe(nn.Module):
    """Word and context vectors with biases; ``vectors`` is ``W + W̃``.

    Args:
        vocab_size: ``V``.
        dim: ``C``.

    >>> GloVe(5, 3).vectors.shape
    torch.Size([5, 3])
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        if vocab_size < 2 or dim < 1:
            raise ValueError(f"need vocab_size >= 2 and dim >= 1, got {vocab_size}, {dim}")
        scale = 0.5 / dim
        self.w = nn.Embedding(vocab_size, dim)
        self.w_tilde = nn.Embedding(vocab_size, dim)
        self.b = nn.Embedding(vocab_size, 1)
        self.b_tilde = nn.Embedding(vocab_size, 1)
        with torch.no_grad():
            self.w.weight.uniform_(-scale, scale)
            self.w_tilde.weight.uniform_(-scale, scale)
            self.b.weight.zero_()
            self.b_tilde.weight.zero_()

    def forward(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        log_counts: torch.Tensor,
        weights: torch.Tensor,
    ) -> torch.Tensor:
        """Summed loss of the entries ``(rows[n], cols[n])``, all of shape ``(B,)``."""
        return glove_loss(
            self.w(rows),  # (B, C)
            self.w_tilde(cols),  # (B, C)
            self.b(rows).squeeze(-1),  # (B,)
            self.b_tilde(cols).squeeze(-1),  # (B,)
            log_counts,
            weights,
        )

    @property
    def vectors(self) -> torch.Tensor:
        """``W + W̃``, ``(V, C)``, detached."""
        return (self.w.weight + self.w_tilde.weight).detach()


def glove_gradients(
    w: torch.Tensor,
    w_tilde: torch.Tensor,
    b: torch.Tensor,
    b_tilde: torch.Tensor,
    log_counts: torch.Tensor,
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The summed GloVe loss and its gradients by hand (what autograd gives for :func:`glove_loss`).

    With ``e = w·w̃ + b + b̃ - log X``: ``∂/∂w = 2 f e w̃``, ``∂/∂w̃ = 2 f e w``, ``∂/∂b = ∂/∂b̃ = 2 f e``.

    Shape:
        as :func:`glove_loss`; returns ``(loss (), grad_w (B, C), grad_w_tilde (B, C), grad_b (B,),
        grad_b_tilde (B,))``.
    """
    error = (w * w_tilde).sum(-1) + b + b_tilde - log_counts  # (B,)
    scaled = 2 * weights * error  # (B,)
    loss = (weights * error.square()).sum()
    return loss, scaled.unsqueeze(-1) * w_tilde, scaled.unsqueeze(-1) * w, scaled, scaled


@torch.no_grad()
def glove_adagrad_step(
    model: GloVe,
    squares: dict[str, torch.Tensor],
    rows: torch.Tensor,
    cols: torch.Tensor,
    log_counts: torch.Tensor,
    weights: torch.Tensor,
    lr: float,
) -> float:
    """One AdaGrad step over a batch of entries, touching only the rows it uses (as the C code).

    ``squares`` holds the running sums of squared gradients, one tensor per parameter (start them
    at 1, as the reference implementation does). Each entry's update is scaled by
    ``1 / sqrt(sum of its row's squared gradients)``.

    Returns:
        The summed loss of the batch before the step.
    """
    params = {"w": model.w.weight, "w_tilde": model.w_tilde.weight}
    params |= {"b": model.b.weight[:, 0], "b_tilde": model.b_tilde.weight[:, 0]}
    loss, g_w, g_wt, g_b, g_bt = glove_gradients(
        params["w"][rows],
        params["w_tilde"][cols],
        params["b"][rows],
        params["b_tilde"][cols],
        log_counts,
        weights,
    )
    for name, index, grad in (
        ("w", rows, g_w),
        ("w_tilde", cols, g_wt),
        ("b", rows, g_b),
        ("b_tilde", cols, g_bt),
    ):
        squares[name].index_add_(0, index, grad.square())
        params[name].index_add_(0, index, grad / squares[name][index].sqrt(), alpha=-lr)
    return float(loss)


@dataclass(frozen=True)
class GloVeConfig:
    """Settings of :func:`train_glove` (the paper's x_max, alpha and AdaGrad rate)."""

    dim: int = 100
    epochs: int = 15
    batch_size: int = 16384
    lr: float = 0.05
    x_max: float = 100.0
    alpha: float = 0.75
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"GloVeConfig.{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.lr <= 0 or self.x_max <= 0 or not 0 < self.alpha <= 1:
            raise ValueError("GloVeConfig needs lr > 0, x_max > 0 and 0 < alpha <= 1")


def train_glove(
    counts: Cooccurrence,
    config: GloVeConfig = GloVeConfig(),
    callback: Callable[[int, float], None] | None = None,
) -> tuple[GloVe, list[float]]:
    """Fit GloVe to the non-zero entries of a co-occurrence matrix with AdaGrad (as in the paper).

    Args:
        counts: a :class:`~coursekit.embeddings.cooccurrence.Cooccurrence` (e.g. harmonic-weighted
            counts from :func:`~coursekit.embeddings.cooccurrence.cooccurrence_counts`).
        config: a :class:`GloVeConfig`.
        callback: called as ``callback(epoch, mean_loss)`` after each epoch.

    Returns:
        The trained :class:`GloVe` and the mean weighted loss per entry, per epoch.
    """
    if counts.nnz == 0:
        raise ValueError("the co-occurrence matrix has no non-zero entries: is the corpus empty?")
    with one_thread():  # small per-step tensors: see coursekit.embeddings._threads
        return _train_glove(counts, config, callback)


def _train_glove(
    counts: Cooccurrence, config: GloVeConfig, callback: Callable[[int, float], None] | None
) -> tuple[GloVe, list[float]]:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = GloVe(counts.size, config.dim)
    rows = torch.from_numpy(counts.rows)
    cols = torch.from_numpy(counts.cols)
    x = torch.from_numpy(counts.values).float()
    log_x, weights = x.log(), glove_weight(x, config.x_max, config.alpha)
    squares = {
        "w": torch.ones_like(model.w.weight),
        "w_tilde": torch.ones_like(model.w_tilde.weight),
        "b": torch.ones(counts.size),
        "b_tilde": torch.ones(counts.size),
    }
    history = []
    for epoch in range(config.epochs):
        order = torch.from_numpy(rng.permutation(counts.nnz))
        total = 0.0
        for i in range(0, counts.nnz, config.batch_size):
            idx = order[i : i + config.batch_size]
            total += glove_adagrad_step(
                model, squares, rows[idx], cols[idx], log_x[idx], weights[idx], config.lr
            )
        history.append(total / counts.nnz)
        if callback is not None:
            callback(epoch, history[-1])
    return model, history
