"""Text generation from any language model of the course: greedy, temperature, top-k, top-p.

Chapter 03 introduces greedy and temperature sampling on the recurrent models; chapter 08 adds
top-k and top-p (nucleus) sampling for the GPT-style model. A model is anything that maps token
ids ``(B, T)`` to logits ``(B, T, V)``. If it also has ``forward_with_state(idx, state) ->
(logits, state)`` (the recurrent LM does), generation feeds one new token per step instead of
re-reading the whole context.

Shapes: B batch, T steps, V vocab.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["filter_logits", "generate", "sample_next"]


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to ``-inf`` every logit outside the top ``k`` and outside the smallest set of tokens
    whose probability adds up to ``top_p`` (the most likely token always survives).

    Shape:
        logits ``(B, V)`` -> ``(B, V)``.

    >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0]]), top_k=2)
    tensor([[-inf, 3., 2.]])
    """
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(-1) - probs  # probability mass of the tokens ranked above
        drop_sorted = before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one token per row from the last-step logits.

    ``temperature == 0`` is greedy decoding (argmax); otherwise sample from
    ``softmax(filter_logits(logits) / temperature)``: below 1 sharper, above 1 flatter.

    Shape:
        logits ``(B, V)`` -> token ids ``(B, 1)``.

    >>> sample_next(torch.tensor([[0.1, 2.0, 0.3]]), temperature=0)
    tensor([[1]])
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    if generator is not None and generator.device != probs.device:
        # a CPU generator (the usual torch.Generator()) with a model on a GPU: draw on the CPU
        return torch.multinomial(probs.cpu(), 1, generator=generator).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator)


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    context_size: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Continue each row of ``idx`` by ``max_new_tokens`` tokens sampled from ``model``.

    Args:
        model: token ids ``(B, T)`` -> logits ``(B, T, V)``; in eval mode while generating, then
            back in the mode it was in (also when it raises).
        idx: the prompt ids ``(B, T)`` (at least one token each).
        max_new_tokens: how many tokens to add.
        temperature: 0 for greedy decoding; see :func:`sample_next`.
        top_k, top_p: optional filters; see :func:`filter_logits`.
        context_size: models without state see at most this many last tokens (a GPT's block size).
        generator: a seeded ``torch.Generator`` for reproducible samples.
        use_cache: feed only the new token to a model with ``forward_with_state`` (a GPT's
            key/value cache, an RNN's state); False recomputes the whole context every step
            (the same tokens, slower: chapter 08 measures by how much).

    Returns:
        ``(B, T + max_new_tokens)`` ids: the prompt followed by the new tokens.

    >>> from coursekit.nn import RecurrentLM, RecurrentLMConfig
    >>> model = RecurrentLM(RecurrentLMConfig(vocab_size=5, hidden_size=4))
    >>> generate(model, torch.zeros(2, 3, dtype=torch.long), 4, temperature=0).shape
    torch.Size([2, 7])
    """
    if idx.dim() != 2 or idx.size(1) < 1:
        raise ValueError(
            f"idx should be prompt ids of shape (B, T) with T >= 1, got {tuple(idx.shape)}"
        )
    was_training = model.training
    model.eval()
    try:
        stateful = use_cache and hasattr(model, "forward_with_state")
        state, feed, out = None, idx, [idx]
        for _ in range(max_new_tokens):
            if stateful:
                logits, state = model.forward_with_state(feed, state)  # (B, t, V)
            else:
                context = torch.cat(out, dim=1)
                if context_size is None:
                    context_size = getattr(getattr(model, "config", None), "context_size", None)
                if context_size is not None:
                    context = context[:, -context_size:]
                logits = model(context)  # (B, t, V)
            feed = sample_next(logits[:, -1], temperature, top_k, top_p, generator)  # (B, 1)
            out.append(feed)
    finally:
        model.train(was_training)  # also when the model raises
    return torch.cat(out, dim=1)
