"""Checkers for chapter 01 (word embeddings): PPMI, the negative-sampling loss, nearest neighbours,
and the CBOW loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from coursekit.embeddings.cooccurrence import Cooccurrence, ppmi
from coursekit.embeddings.evaluate import nearest_neighbours
from coursekit.embeddings.word2vec import negative_sampling_loss
from coursekit.exercises.core import Exercise, ExerciseResult

__all__ = ["check_cbow_loss", "check_most_similar", "check_ppmi", "check_sgns_loss"]


def _reference_ppmi(counts: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    c = counts.double().numpy()
    rows, cols = np.nonzero(c)
    out = ppmi(Cooccurrence(rows, cols, c[rows, cols], len(c)), alpha=alpha).to_dense()
    return torch.from_numpy(out)


def check_ppmi(ppmi_fn: Callable[[torch.Tensor], torch.Tensor]) -> ExerciseResult:
    """01.1: ``ppmi_fn(counts)`` for a dense ``(V, V)`` count matrix, plain PPMI (no smoothing)."""
    with Exercise("01.1 PPMI") as ex:
        counts = torch.tensor([[0.0, 4, 1, 0], [4, 0, 2, 1], [1, 2, 0, 6], [0, 1, 6, 2]])
        out = ex.call(ppmi_fn, counts.clone())
        ex.check_type(out, torch.Tensor)
        ex.check_shape(out, (4, 4), "ppmi(counts) for counts of shape (4, 4)")
        out = out.double()
        ex.check(
            bool(torch.isfinite(out).all()),
            "the result has inf or nan: log(0) = -inf where a count is 0. Those cells have PMI "
            "-inf, and PPMI clips them to 0 (e.g. torch.where(counts > 0, pmi, 0)).",
        )
        ex.check(
            bool((out >= 0).all()),
            f"the result has negative values (smallest {float(out.min()):.3f}): PPMI keeps "
            "max(PMI, 0).",
        )
        expected = _reference_ppmi(counts)
        ex.check(
            bool(out.any()),
            "values differ from PPMI: every value is 0, yet several pairs here occur more often "
            "than chance. If you wrote log(count / (row sum * column sum)), the probabilities lack "
            "their 1/total: p(i,j) = count / total, p(i) = row sum / total, p(j) = column sum / total.",
        )
        ex.check(
            not torch.allclose(out, _reference_ppmi(counts, alpha=0.75), atol=1e-5),
            "this is the smoothed PPMI (context counts raised to 0.75, coursekit's default); the "
            "exercise asks for plain PPMI, p(j) = column sum / total.",
        )
        ex.check_close(
            out,
            expected,
            "values differ from PPMI = max(log(p(i,j) / (p(i) p(j))), 0) with p(i,j) = "
            "count(i,j) / total, p(i) = row sum / total, p(j) = column sum / total",
            atol=1e-5,
        )
    return ex.result


def _scalar_loss(ex: Exercise, loss_fn: Callable, *inputs: torch.Tensor) -> torch.Tensor:
    """Call a learner's loss on copies of ``inputs``; it must return a scalar tensor."""
    out = ex.call(loss_fn, *(x.clone() for x in inputs))
    ex.check_type(out, torch.Tensor)
    ex.check(
        out.dim() == 0,
        f"the loss should be a scalar (the mean over the batch), got shape {tuple(out.shape)}.",
    )
    return out


def _check_stable(ex: Exercise, loss_fn: Callable, *inputs: torch.Tensor) -> None:
    """The loss must stay finite when every dot product is large."""
    big = ex.call(loss_fn, *(x * 30 for x in inputs))
    ex.check(
        bool(torch.isfinite(big)),
        "with large dot products the loss is inf or nan: torch.log(torch.sigmoid(x)) "
        "underflows to log(0). Use torch.nn.functional.logsigmoid(x).",
    )


def _wrong_sign(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The negative-sampling loss with the noise words' sign forgotten: log σ(+u_k·v)."""
    return (
        -torch.nn.functional.logsigmoid((v * u).sum(-1))
        - torch.nn.functional.logsigmoid(torch.einsum("bkc,bc->bk", n, v)).sum(-1)
    ).mean()


def check_sgns_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> ExerciseResult:
    """01.2: ``loss_fn(v_c, u_o, u_neg)`` with shapes ``(B, C)``, ``(B, C)``, ``(B, K, C)``;
    the mean over the batch of ``-log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)``."""
    with Exercise("01.2 negative-sampling loss") as ex:
        g = torch.Generator().manual_seed(0)
        v, u, n = (
            torch.randn(3, 4, generator=g),
            torch.randn(3, 4, generator=g),
            torch.randn(3, 5, 4, generator=g),
        )
        out = _scalar_loss(ex, loss_fn, v, u, n)
        expected = negative_sampling_loss(v, u, n)
        wrong_sign = _wrong_sign(v, u, n)
        ex.check(
            not torch.allclose(out.double(), wrong_sign.double(), atol=1e-5),
            "the negatives need a minus sign inside the sigmoid: log σ(-u_k·v_c). A noise word "
            "should get a *low* score, so the loss rewards σ(u_k·v_c) → 0.",
        )
        ex.check(
            not torch.allclose(out.double(), (expected * 3).double(), atol=1e-5),
            "this is the sum over the batch; take the mean over the B pairs.",
        )
        ex.check_close(out, expected, "values differ from the negative-sampling loss", atol=1e-5)
        _check_stable(ex, loss_fn, v, u, n)
    return ex.result


def check_most_similar(
    most_similar: Callable[[torch.Tensor, Sequence[str], str, int], list[str]],
) -> ExerciseResult:
    """01.3: ``most_similar(vectors, words, query, k)``: the ``k`` words with the highest cosine
    similarity to ``query``, most similar first, the query itself left out."""
    with Exercise("01.3 nearest neighbours by cosine similarity") as ex:
        words = ["cat", "dog", "kitten", "car", "truck", "puppy"]
        vectors = torch.tensor(
            [
                [1.0, 0.2, 0.0],
                [0.8, 0.6, 0.0],
                [3.0, 0.9, 0.0],
                [0.0, 0.1, 1.0],
                [0.0, 0.3, 9.0],
                [2.0, 1.6, 0.1],
            ]
        )
        out = ex.call(most_similar, vectors.clone(), list(words), "cat", 2)
        ex.check_type(out, list)
        ex.check(len(out) == 2, f"asked for k=2 neighbours, got {len(out)}: {out}.")
        ex.check(
            "cat" not in out,
            "the query word itself is in the result (its cosine with itself is 1): leave it out.",
        )
        expected = [w for w, _ in nearest_neighbours(vectors, words, "cat", 2)]
        dots = vectors @ vectors[0]
        dots[0] = -float("inf")
        by_dot = [words[i] for i in dots.topk(2).indices.tolist()]
        ex.check(
            out != by_dot or by_dot == expected,
            'this ranks by the raw dot product, which favours long vectors ("puppy" is long): '
            "divide by the norms to get the cosine.",
        )
        ex.check(out == expected, f"expected {expected} (most similar first), got {out}.")
        out2 = ex.call(most_similar, vectors.clone(), list(words), "car", 1)
        ex.check(out2 == ["truck"], f"for 'car' with k=1 expected ['truck'], got {out2}.")
    return ex.result


def check_cbow_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> ExerciseResult:
    """01.4: ``loss_fn(v_context, u_o, u_neg)`` with shapes ``(B, W, C)``, ``(B, C)``, ``(B, K, C)``:
    CBOW with negative sampling, the mean over the batch of ``-log σ(u_o·h) - Σ_k log σ(-u_k·h)``
    where ``h`` is the *mean* of the ``W`` context vectors."""
    with Exercise("01.4 CBOW loss") as ex:
        g = torch.Generator().manual_seed(1)
        ctx, u, n = (
            torch.randn(3, 4, 5, generator=g),  # (B, W, C): 4 context words
            torch.randn(3, 5, generator=g),
            torch.randn(3, 6, 5, generator=g),
        )
        out = _scalar_loss(ex, loss_fn, ctx, u, n)
        out = out.double()
        expected = negative_sampling_loss(ctx.mean(1), u, n).double()

        def matches(other: torch.Tensor) -> bool:
            return bool(torch.allclose(out, other.double(), atol=1e-5))

        ex.check(
            not matches(negative_sampling_loss(ctx.sum(1), u, n)),
            "this sums the context vectors; CBOW *averages* them, h = (1/W) Σ_j v_j, so that the "
            "size of h does not depend on how many context words there are.",
        )
        ex.check(
            not matches(negative_sampling_loss(ctx[:, 0], u, n))
            and not matches(negative_sampling_loss(ctx[:, -1], u, n)),
            "this uses one context word only; CBOW predicts the centre from the mean of *all* W "
            "context vectors (dimension 1 of v_context).",
        )
        ex.check(
            not matches(negative_sampling_loss(ctx.mean(1), u, n, reduction="sum")),
            "this is the sum over the batch; take the mean over the B examples.",
        )
        wrong_sign = _wrong_sign(ctx.mean(1), u, n)
        ex.check(
            not matches(wrong_sign),
            "the negatives need a minus sign inside the sigmoid: log σ(-u_k·h).",
        )
        ex.check_close(
            out,
            expected,
            "values differ from CBOW's loss: h = v_context.mean(dim=1), then the negative-sampling "
            "loss of 01.2 with h in place of v_c",
            atol=1e-5,
        )
        _check_stable(ex, loss_fn, ctx, u, n)
    return ex.result
