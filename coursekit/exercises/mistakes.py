"""The typical wrong answers of every exercise, and the feedback each checker gives them.

Each checker in ``chNN.py`` recognises the usual mistakes of its exercise and names them. This
module holds, for every checker, a few of those wrong answers (:data:`MISTAKES`), so that

- ``tests/test_exercises_feedback.py`` proves that every checker answers a wrong answer with
  specific feedback (:func:`is_specific`), not a bare "incorrect", and fails when a checker is
  added without a wrong answer here;
- ``docs/teaching.md`` (``python -m coursekit teaching``) lists each chapter's common mistakes in
  the checkers' own words (:func:`chapter_mistakes`), never retyped.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import itertools
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from coursekit.exercises import ch03, ch06, ch07
from coursekit.exercises.core import FAILED, STRICT_ENV, ExerciseResult
from coursekit.nn import gru_step
from coursekit.seq2seq import BOS_ID, EOS_ID

__all__ = [
    "CHAPTERS",
    "MISTAKES",
    "Mistake",
    "chapter_mistakes",
    "checkers",
    "is_specific",
    "run_mistake",
]

CHAPTERS = tuple(f"{n:02d}" for n in range(12))  # the chapters with a checker module chNN.py
# What a checker must not answer alone: a verdict that names nothing.
GENERIC = ("incorrect", "wrong", "wrong answer", "not yet right", "not right", "try again", "")
# Messages that come from running the learner's code, not from the checker's own diagnosis.
_FRAMEWORK = re.compile(r"^(`[^`]*` (raised \w+|returned None)|expected a function, got)")


@dataclass(frozen=True)
class Mistake:
    """A deliberately wrong answer to one checker: ``checker`` (``"ch07.check_attention"``),
    ``what`` the answer gets wrong, in a few words, and ``answer``, the checker's arguments."""

    checker: str
    what: str
    answer: tuple[Callable, ...]


def checkers() -> dict[str, Callable[..., ExerciseResult]]:
    """Every checker of the course, ``{"chNN.check_x": function}``, from each module's ``__all__``."""
    found = {}
    for number in CHAPTERS:
        module = importlib.import_module(f"coursekit.exercises.ch{number}")
        for name in module.__all__:
            if name.startswith("check_"):
                found[f"ch{number}.{name}"] = getattr(module, name)
    return found


@contextlib.contextmanager
def _lenient() -> Iterator[None]:
    """Checkers answer with a verdict, not an exception, whatever ``COURSEKIT_STRICT_EXERCISES``."""
    before = os.environ.pop(STRICT_ENV, None)
    try:
        yield
    finally:
        if before is not None:
            os.environ[STRICT_ENV] = before


def run_mistake(mistake: Mistake) -> ExerciseResult:
    """The checker's verdict on the wrong answer (non-strict, its printing swallowed)."""
    checker = checkers()[mistake.checker]
    torch.manual_seed(0)
    with _lenient(), contextlib.redirect_stdout(io.StringIO()):
        return checker(*mistake.answer)


def _literals(module_name: str) -> list[str]:
    """The string constants of a checker module (the fixed parts of its f-strings included)."""
    module = importlib.import_module(f"coursekit.exercises.{module_name}")
    tree = ast.parse(inspect.getsource(module))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def is_specific(result: ExerciseResult, checker: str, *, min_fragment: int = 20) -> bool:
    """Whether a verdict is a failure that names what is wrong.

    It must be ``failed`` (not passed, not "not attempted"); its message must not be generic
    (:data:`GENERIC`) nor come from the framework's handling of a crash or a missing ``return``;
    and it must contain a phrase of at least ``min_fragment`` characters that the checker's own
    module wrote (one of its string constants, or a fixed part of an f-string): the checker's
    diagnosis, not a message any checker could give.
    """
    message = result.message.strip()
    if result.status != FAILED or message.lower().rstrip(".!") in GENERIC:
        return False
    if _FRAMEWORK.match(message):
        return False
    module = checker.split(".")[0]
    fragments = {
        piece.strip()
        for literal in _literals(module)
        for piece in re.split(r"\s*\n\s*", literal)
        if len(piece.strip()) >= min_fragment
    }
    return any(fragment in message for fragment in fragments)


def chapter_mistakes(number: str) -> list[tuple[str, str, str]]:
    """``[(exercise title, what the answer gets wrong, the checker's message)]`` for one chapter,
    in the order of :data:`MISTAKES`; only the verdicts that :func:`is_specific` accepts."""
    out = []
    for mistake in MISTAKES:
        if mistake.checker.startswith(f"ch{number}."):
            result = run_mistake(mistake)
            if is_specific(result, mistake.checker):
                out.append((result.title, mistake.what, result.message))
    return out


# -- reference answers the wrong ones are made from -----------------------------------------------
def _softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def _ppmi(counts):
    total = counts.sum()
    pmi = torch.log(counts * total / (counts.sum(1, keepdim=True) * counts.sum(0, keepdim=True)))
    return torch.where(counts > 0, pmi, torch.zeros_like(pmi)).clamp(min=0)


def _sgns(v, u, n):
    pos = F.logsigmoid((v * u).sum(-1))
    neg = F.logsigmoid(-torch.einsum("bkc,bc->bk", n, v)).sum(-1)
    return -(pos + neg).mean()


def _unstable_sgns(v, u, n):
    pos = torch.log(torch.sigmoid((v * u).sum(-1)))
    neg = torch.log(torch.sigmoid(-torch.einsum("bkc,bc->bk", n, v))).sum(-1)
    return -(pos + neg).mean()


def _dot_similar(vec, words, q, k):
    sims = (vec @ vec[words.index(q)]).index_fill(0, torch.tensor(words.index(q)), -9)
    return [words[i] for i in sims.topk(k).indices.tolist()]


def _self_similar(vec, words, q, k):
    sims = vec / vec.norm(dim=1, keepdim=True) @ vec[words.index(q)]
    return [words[i] for i in sims.topk(k).indices.tolist()]


def _logprob(bp, words):
    seq = ["<bos>", *words, "<eos>"]
    return sum(math.log(bp(w, prev)) for prev, w in itertools.pairwise(seq))


def _vanish(norm=None, power=None, start=1, shift=0):
    norm = norm or (lambda m: torch.linalg.matrix_norm(m, ord=2))
    power = power or torch.linalg.matrix_power

    def answer(W_hh, tol=1e-3, max_steps=1000):
        for k in range(start, max_steps + 1):
            if norm(power(W_hh, k)) < tol:
                return k + shift
        return None

    return answer


def _backward(**flags):
    return lambda xs, h0, W_hh, states, grads: ch03._bptt(xs, h0, W_hh, states, grads, **flags)


def _tbptt(cut=lambda t, window: t > 0 and t % window == 0, reset=None):
    def answer(xs, h0, W_xh, W_hh, b, window):
        h, states = h0, []
        for t, x_t in enumerate(xs.unbind(1)):
            if cut(t, window):
                h = h.detach() if reset is None else reset(h0)
            h = torch.tanh(x_t @ W_xh.T + h @ W_hh.T + b)
            states.append(h)
        return torch.stack(states, dim=1)

    return answer


def _lstm(order="ifgo", tanh_c=True):
    def answer(x, h, c, w_ih, w_hh, b_ih, b_hh):
        gates = dict(zip(order, (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, -1), strict=True))
        c = torch.sigmoid(gates["f"]) * c + torch.sigmoid(gates["i"]) * torch.tanh(gates["g"])
        return torch.sigmoid(gates["o"]) * (torch.tanh(c) if tanh_c else c), c

    return answer


def _forget_bias(p, n):
    f = p ** (1 / n)
    return math.log(f / (1 - f))


def _lstm_params(i, h, layers):
    return sum(4 * (h * (i if layer == 0 else h) + h * h + 2 * h) for layer in range(layers))


def _gate_product(index, one_minus=False, biases=True):
    def answer(x, w_ih, b_ih, b_hh):
        gate = torch.sigmoid((x @ w_ih.T + b_ih + (b_hh if biases else 0)).chunk(3, -1)[index])
        return (1 - gate if one_minus else gate).prod(dim=1)

    return answer


def _gru_sequence(x, h, w_ih, w_hh, b_ih, b_hh):
    outputs = []
    for xp_t in (x @ w_ih.T + b_ih).unbind(1):
        h = gru_step(xp_t, h, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h


def _gru_stuck(x, h, *weights):
    outs = [_gru_sequence(x[:, t : t + 1], h, *weights)[1] for t in range(x.shape[1])]
    return torch.stack(outs, 1), outs[-1]


def _masked_softmax(polarity=True, fill=float("-inf"), after=False):
    def answer(scores, lengths):
        real = torch.arange(scores.shape[-1])[None, :] < lengths[:, None]
        real = real if polarity else ~real
        if after:
            return torch.softmax(scores, dim=-1) * real[:, None, :]
        return torch.softmax(scores.masked_fill(~real[:, None, :], fill), dim=-1)

    return answer


def _additive(tanh=True, mask=True, dot=False):
    def answer(s, states, src_mask, w_q, w_k, w_v):
        if dot:
            scores = (states @ s[:, :, None]).squeeze(-1)
        else:
            features = (s @ w_q.T)[:, None, :] + states @ w_k.T
            scores = (torch.tanh(features) if tanh else features) @ w_v
        if mask:
            scores = scores.masked_fill(~src_mask, float("-inf"))
        weights = torch.softmax(scores, -1)
        return weights, (weights[:, :, None] * states).sum(1)

    return answer


def _self_attention(scale=True, pooled=False):
    def answer(x, w_q, w_k, w_v):
        q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
        if pooled:  # the article's c = Σ α_i h_i: one vector per sequence
            return (torch.softmax(scores.mean(1), dim=-1)[:, :, None] * v).sum(1)
        return torch.softmax(scores, dim=-1) @ v

    return answer


def _greedy(model, src, mask, max_len, *, stop=True, bos=False):
    memory, tokens, state = model.encode(src, mask), torch.full((src.shape[0], 1), BOS_ID), None
    rows, done = [[BOS_ID] if bos else [] for _ in range(src.shape[0])], [False] * src.shape[0]
    for _ in range(max_len):
        logits, state = model.decode_step(tokens, memory, mask, state)
        tokens = logits.argmax(-1, keepdim=True)
        for b, t in enumerate(tokens[:, 0].tolist()):
            done[b] = done[b] or (stop and t == EOS_ID)
            if not done[b]:
                rows[b].append(t)
        if all(done):
            break
    return rows


def _attention(scale=None, polarity=True, after=False):
    def answer(q, k, v, mask):
        s = 1 / math.sqrt(q.size(-1)) if scale is None else scale(q.size(-1))
        keep = mask if polarity else ~mask
        scores = q @ k.transpose(-2, -1) * s
        if not after:
            scores = scores.masked_fill(~keep, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return (weights * keep if after else weights) @ v

    return answer


def _split(x, h):
    b, t, c = x.shape
    return x.view(b, t, h, c // h).transpose(1, 2)


def _merge(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def _merge_pair(ids, pair, new_id, *, overlapping=False, in_place=False):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 1 if overlapping else 2
        else:
            out.append(ids[i])
            i += 1
    if overlapping:  # the last token of a merged pair is dropped, even when it starts a pair
        out = [t for j, t in enumerate(out) if not (j > 0 and out[j - 1] == new_id and t != new_id)]
    if in_place:
        ids[:] = out
        return ids
    return out


def _top_p(*, cross=True, renormalise=False):
    def answer(logits, p):
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop_sorted = (probs.cumsum(-1) - probs >= p) if cross else (probs.cumsum(-1) > p)
        drop_sorted[..., 0] = False
        out = logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
        return torch.log_softmax(out, dim=-1) if renormalise else out

    return answer


def _mask_tokens(*, mask_all=False, targets_everywhere=False):
    def answer(ids, mask_id, vocab_size, generator):
        chosen = torch.rand(ids.shape, generator=generator) < 0.15
        targets = ids.clone() if targets_everywhere else torch.where(chosen, ids, -100)
        roll = torch.rand(ids.shape, generator=generator)
        masked = chosen if mask_all else chosen & (roll < 0.8)
        inputs = torch.where(masked, torch.full_like(ids, mask_id), ids)
        random = torch.randint(vocab_size, ids.shape, generator=generator)
        if not mask_all:
            inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random, inputs)
        return inputs, targets

    return answer


def _freeze(model):
    model.requires_grad_(False)
    model.head.requires_grad_(True)
    return model


def _freeze_inverted(model):
    _freeze(model)
    for p in model.parameters():
        p.requires_grad_(not p.requires_grad)
    return model


def _eval_only(model):
    model.eval()
    return model


def _micro_f1(predictions, labels, num_classes):
    return float((predictions == labels).double().mean())


def _macro_precision(predictions, labels, num_classes):
    total = 0.0
    for c in range(num_classes):
        predicted = int((predictions == c).sum())
        tp = int(((predictions == c) & (labels == c)).sum())
        total += tp / predicted if predicted else 0.0
    return total / num_classes


def _flops(V, C, L, T):
    return 6 * (L * (4 * C * C + 2 * C * 4 * C) + C * V) + 12 * L * T * C


def _weat_s(W, A, B):
    unit = lambda M: M / np.linalg.norm(M, axis=1, keepdims=True)  # noqa: E731
    return (unit(W) @ unit(A).T).mean(1) - (unit(W) @ unit(B).T).mean(1)


def _effect_size(X, Y, A, B, ddof=1):
    sx, sy = _weat_s(X, A, B), _weat_s(Y, A, B)
    return (sx.mean() - sy.mean()) / np.concatenate([sx, sy]).std(ddof=ddof)


def _exposure_zero_based(scores, i):
    rank = int((scores > scores[i]).sum())
    return math.log2(len(scores)) - math.log2(rank) if rank else math.inf


def _patches(order=(0, 1, 3, 2, 4)):
    def answer(images, size):
        b, h, w = images.shape
        x = images.reshape(b, h // size, size, w // size, size)
        return x.permute(*order).reshape(b, -1, size * size)

    return answer


_TERM = r"\*\*([^*\n]+?)\*\*"


def _terms_keeping_abbreviation(markdown):
    return re.findall(_TERM + r"\s+\(([^()*\n]*[\u4e00-\u9fff][^()*\n]*)\)", markdown)


def _terms_any_bold(markdown):
    return re.findall(_TERM + r"\s+\(([^,;()*\n]+)[,;)]", markdown)


def _m(checker: str, what: str, *answer: Callable) -> Mistake:
    return Mistake(checker, what, answer)


# -- the wrong answers, per checker (each named by its checker's own message) ---------------------
MISTAKES: tuple[Mistake, ...] = (
    _m("ch00.check_softmax", "normalised over the whole tensor", lambda x: x.exp() / x.exp().sum()),
    _m(
        "ch00.check_softmax",
        "not stabilised (no max subtracted)",
        lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True),
    ),
    _m(
        "ch00.check_softmax",
        "stabilised with the maximum of the whole tensor",
        lambda x: (x - x.max()).exp() / (x - x.max()).exp().sum(dim=-1, keepdim=True),
    ),
    _m("ch01.check_ppmi", "log of the joint probability only", lambda c: torch.log(c / c.sum())),
    _m(
        "ch01.check_ppmi",
        "PMI without the clamp at 0",
        lambda c: torch.nan_to_num(
            torch.log(c * c.sum() / (c.sum(1, keepdim=True) * c.sum(0))), neginf=0.0
        ),
    ),
    _m(
        "ch01.check_ppmi",
        "counts used as probabilities (no 1/total)",
        lambda c: torch.nan_to_num(torch.log(c / (c.sum(1, keepdim=True) * c.sum(0)))).clamp(0),
    ),
    _m(
        "ch01.check_sgns_loss",
        "the negatives' sign missing",
        lambda v, u, n: (
            -(
                F.logsigmoid((v * u).sum(-1))
                + F.logsigmoid(torch.einsum("bkc,bc->bk", n, v)).sum(-1)
            ).mean()
        ),
    ),
    _m("ch01.check_sgns_loss", "summed over the batch", lambda v, u, n: _sgns(v, u, n) * len(v)),
    _m("ch01.check_sgns_loss", "log(sigmoid(x)) instead of logsigmoid", _unstable_sgns),
    _m("ch01.check_most_similar", "raw dot products instead of cosines", _dot_similar),
    _m("ch01.check_most_similar", "the query word left among the answers", _self_similar),
    _m(
        "ch01.check_cbow_loss",
        "log(sigmoid(x)) instead of logsigmoid",
        lambda c, u, n: _unstable_sgns(c.mean(1), u, n),
    ),
    _m(
        "ch01.check_cbow_loss",
        "the context summed, not averaged",
        lambda c, u, n: _sgns(c.sum(1), u, n),
    ),
    _m("ch02.check_add_k", "the denominator not smoothed", lambda c, k: (c + k) / c.sum()),
    _m("ch02.check_add_k", "no smoothing at all", lambda c, k: c / c.sum()),
    _m(
        "ch02.check_perplexity",
        "the sum of log-probabilities, not the mean",
        lambda p: math.exp(-sum(math.log(x) for x in p)),
    ),
    _m(
        "ch02.check_perplexity",
        "a product of probabilities",
        lambda p: math.prod(p) ** (-1 / len(p)),
    ),
    _m(
        "ch02.check_perplexity",
        "the cross-entropy, not its exponential",
        lambda p: -sum(math.log(x) for x in p) / len(p),
    ),
    _m(
        "ch02.check_sentence_logprob",
        "no end-of-sentence token",
        lambda bp, w: _logprob(bp, w) - math.log(bp("<eos>", w[-1])),
    ),
    _m(
        "ch02.check_sentence_logprob",
        "the first word not conditioned on <bos>",
        lambda bp, w: _logprob(bp, w) - math.log(bp(w[0], "<bos>")),
    ),
    _m(
        "ch02.check_sentence_logprob",
        "a probability, not its log",
        lambda bp, w: math.exp(_logprob(bp, w)),
    ),
    _m(
        "ch02.check_kneser_ney_step",
        "discounted counts not clamped at 0",
        lambda c, lo, d: (c - d) / c.sum() + d * (c > 0).sum() / c.sum() * lo,
    ),
    _m(
        "ch02.check_kneser_ney_step",
        "the freed mass counted over all words",
        lambda c, lo, d: (c - d).clamp(min=0) / c.sum() + d * len(c) / c.sum() * lo,
    ),
    _m(
        "ch02.check_kneser_ney_step",
        "renormalised instead of backing off",
        lambda c, lo, d: (c - d).clamp(min=0) / (c - d).clamp(min=0).sum(),
    ),
    _m("ch03.check_steps_to_vanish", "one step too late", _vanish(start=0, shift=1)),
    _m("ch03.check_steps_to_vanish", "the Frobenius norm", _vanish(norm=torch.linalg.matrix_norm)),
    _m(
        "ch03.check_steps_to_vanish",
        "the power of the norm, not the norm of the power",
        _vanish(norm=lambda m: m, power=lambda w, k: torch.linalg.matrix_norm(w, ord=2) ** k),
    ),
    _m("ch03.check_steps_to_vanish", "entrywise power", _vanish(power=lambda w, k: w**k)),
    _m("ch03.check_rnn_backward", "no gradient carried from step t + 1", _backward(carry="none")),
    _m("ch03.check_rnn_backward", "the tanh derivative left out", _backward(slope="none")),
    _m(
        "ch03.check_rnn_backward",
        "gradients not added up over the steps",
        _backward(accumulate=False),
    ),
    _m(
        "ch03.check_truncated_rnn",
        "the state restarted at each window",
        _tbptt(reset=torch.zeros_like),
    ),
    _m("ch03.check_truncated_rnn", "the gradient never cut", _tbptt(cut=lambda t, window: False)),
    _m(
        "ch03.check_truncated_rnn",
        "the cut one step off",
        _tbptt(cut=lambda t, window: t % window == 1),
    ),
    _m("ch04.check_lstm_step", "the article's gate order i, f, o, g", _lstm(order="ifog")),
    _m("ch04.check_lstm_step", "no tanh on the new cell state", _lstm(tanh_c=False)),
    _m(
        "ch04.check_forget_bias",
        "the bias for one step, not for all of them",
        lambda p, n: math.log(p / (1 - p)),
    ),
    _m("ch04.check_forget_bias", "the gate value, not its bias", lambda p, n: p ** (1 / n)),
    _m(
        "ch04.check_lstm_num_parameters",
        "one bias vector per gate instead of two",
        lambda i, h, n: _lstm_params(i, h, n) - 4 * h * n,
    ),
    _m(
        "ch04.check_lstm_num_parameters",
        "every layer's input taken as the input width",
        lambda i, h, n: n * 4 * (h * i + h * h + 2 * h),
    ),
    _m(
        "ch05.check_update_gate_product", "the product of (1 - z)", _gate_product(1, one_minus=True)
    ),
    _m("ch05.check_update_gate_product", "the reset gate's rows", _gate_product(0)),
    _m(
        "ch05.check_update_gate_product",
        "one of the two biases left out",
        _gate_product(1, biases=False),
    ),
    _m("ch05.check_flip_update_gate", "every row negated", lambda s: {k: -v for k, v in s.items()}),
    _m("ch05.check_flip_update_gate", "nothing changed", lambda s: s),
    _m("ch05.check_gru_sequence", "the state not carried from step to step", _gru_stuck),
    _m(
        "ch05.check_gru_sequence",
        "the outputs in reverse order",
        lambda x, h, *w: (_gru_sequence(x, h, *w)[0].flip(1), _gru_sequence(x, h, *w)[1]),
    ),
    _m(
        "ch06.check_masked_softmax", "the mask's polarity inverted", _masked_softmax(polarity=False)
    ),
    _m("ch06.check_masked_softmax", "masked after the softmax", _masked_softmax(after=True)),
    _m("ch06.check_masked_softmax", "padding filled with 0, not -inf", _masked_softmax(fill=0.0)),
    _m("ch06.check_additive_step", "no tanh", _additive(tanh=False)),
    _m("ch06.check_additive_step", "padding not masked", _additive(mask=False)),
    _m(
        "ch06.check_additive_step",
        "dot-product scores instead of additive ones",
        _additive(dot=True),
    ),
    _m(
        "ch06.check_self_attention",
        "attention pooling: one vector per sequence",
        _self_attention(pooled=True),
    ),
    _m("ch06.check_self_attention", "no 1/√d scale", _self_attention(scale=False)),
    _m("ch06.check_greedy_translate", "<bos> kept in the output", lambda *a: _greedy(*a, bos=True)),
    _m("ch06.check_greedy_translate", "no stop at <eos>", lambda *a: _greedy(*a, stop=False)),
    _m(
        "ch06.check_greedy_translate",
        "the whole prefix fed again at every step",
        lambda m, s, k, n: ch06._greedy_variant(m, s, k, n, refeed=True),
    ),
    _m("ch07.check_attention", "no 1/√E scale", _attention(scale=lambda e: 1.0)),
    _m("ch07.check_attention", "the mask's polarity inverted", _attention(polarity=False)),
    _m("ch07.check_attention", "masked after the softmax", _attention(after=True)),
    _m(
        "ch07.check_heads",
        "(B, T, C) reshaped straight to (B, H, T, D)",
        lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1),
        _merge,
    ),
    _m(
        "ch07.check_heads",
        "heads merged without transposing back",
        _split,
        lambda x: x.reshape(x.shape[0], x.shape[2], -1),
    ),
    _m("ch07.check_sinusoidal", "sin and cos swapped", lambda p, c: ch07._table(p, c, swap=True)),
    _m(
        "ch07.check_sinusoidal",
        "all sines, then all cosines",
        lambda p, c: ch07._table(p, c, halves=True),
    ),
    _m("ch07.check_sinusoidal", "positions from 1", lambda p, c: ch07._table(p, c, start=1)),
    _m(
        "ch07.check_causal_mask",
        "the diagonal left out",
        lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1),
    ),
    _m(
        "ch07.check_causal_mask",
        "True = masked out",
        lambda t: torch.ones(t, t, dtype=torch.bool).triu(1),
    ),
    _m("ch07.check_causal_mask", "a float mask", lambda t: torch.ones(t, t).tril()),
    _m(
        "ch08.check_merge",
        "overlapping pairs both merged",
        lambda *a: _merge_pair(*a, overlapping=True),
    ),
    _m(
        "ch08.check_merge",
        "the given list changed in place",
        lambda *a: _merge_pair(*a, in_place=True),
    ),
    _m(
        "ch08.check_merge",
        "a merged pair kept as two tokens",
        lambda ids, pair, new: [
            new if (a, b) == pair else a for a, b in zip(ids, [*ids[1:], None], strict=True)
        ],
    ),
    _m("ch08.check_top_p", "the token that crosses p dropped", _top_p(cross=False)),
    _m("ch08.check_top_p", "the kept logits renormalised", _top_p(renormalise=True)),
    _m("ch08.check_masking", "every chosen position masked", _mask_tokens(mask_all=True)),
    _m("ch08.check_masking", "a target at every position", _mask_tokens(targets_everywhere=True)),
    _m(
        "ch09.check_lora_forward",
        "no alpha / r scale",
        lambda x, W, A, B, alpha, r: x @ W.T + (x @ A.T) @ B.T,
    ),
    _m(
        "ch09.check_lora_forward",
        "the frozen layer left out",
        lambda x, W, A, B, alpha, r: alpha / r * (x @ A.T) @ B.T,
    ),
    _m(
        "ch09.check_lora_forward",
        "A and B in the wrong order",
        lambda x, W, A, B, alpha, r: x @ W.T + alpha / r * (x @ B.T) @ A.T,
    ),
    _m("ch09.check_freeze", "the head frozen too", lambda model: model.requires_grad_(False)),
    _m("ch09.check_freeze", "model.eval() instead of freezing", _eval_only),
    _m("ch09.check_freeze", "the body trained, the head frozen", _freeze_inverted),
    _m("ch09.check_macro_f1", "the micro average (accuracy)", _micro_f1),
    _m("ch09.check_macro_f1", "macro precision, not F1", _macro_precision),
    _m(
        "ch10.check_flops_per_token",
        "the forward pass only",
        lambda V, C, L, T: _flops(V, C, L, T) / 3,
    ),
    _m(
        "ch10.check_flops_per_token",
        "attention left out",
        lambda V, C, L, T: _flops(V, C, L, T) - 12 * L * T * C,
    ),
    _m(
        "ch10.check_flops_per_token",
        "the output layer left out",
        lambda V, C, L, T: _flops(V, C, L, T) - 6 * C * V,
    ),
    _m(
        "ch10.check_effect_size",
        "the population standard deviation",
        lambda *a: _effect_size(*a, ddof=0),
    ),
    _m("ch10.check_effect_size", "the sign reversed", lambda *a: -_effect_size(*a)),
    _m(
        "ch10.check_effect_size",
        "not divided by the spread",
        lambda X, Y, A, B: _weat_s(X, A, B).mean() - _weat_s(Y, A, B).mean(),
    ),
    _m("ch10.check_exposure", "ranks counted from 0", _exposure_zero_based),
    _m(
        "ch10.check_exposure",
        "the natural logarithm",
        lambda s, i: math.log(len(s)) - math.log(1 + int((s > s[i]).sum())),
    ),
    _m(
        "ch10.check_exposure",
        "ties counted against the canary",
        lambda s, i: math.log2(len(s)) - math.log2(int((s >= s[i]).sum())),
    ),
    _m(
        "ch11.check_relative_change",
        "the difference of the norms",
        lambda b, a: ((a.norm() - b.norm()) / b.norm()).item(),
    ),
    _m(
        "ch11.check_relative_change",
        "divided by ||after||",
        lambda b, a: ((a - b).norm() / a.norm()).item(),
    ),
    _m(
        "ch11.check_relative_change",
        "the scale argument ignored",
        lambda b, a, scale=None: ((a - b).norm() / b.norm()).item(),
    ),
    _m("ch11.check_relative_change", "not divided at all", lambda b, a: (a - b).norm().item()),
    _m(
        "ch11.check_patches",
        "a plain reshape",
        lambda images, size: images.reshape(images.size(0), -1, size * size),
    ),
    _m("ch11.check_patches", "patches read top to bottom", _patches((0, 3, 1, 2, 4))),
    _m("ch11.check_patches", "each patch transposed", _patches((0, 1, 3, 4, 2))),
    _m("ch11.check_marked_terms", "what follows the Chinese kept", _terms_keeping_abbreviation),
    _m("ch11.check_marked_terms", "any bold text taken as a term", _terms_any_bold),
)
