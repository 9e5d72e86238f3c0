"""Checks shared by the layers and configs of :mod:`coursekit.nn`, with errors in coursekit's words.

A mistake in what reaches a layer (token ids where vectors belong, a misspelt keyword, ``"128"``
for a size) should say what was wrong and what to do, not surface as a traceback from inside
torch (STYLE rule 12). Every check here is cheap: it reads dtypes, shapes and devices, never
tensor values, except :func:`check_token_ids`, which documents its one host read.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import numbers
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["UnknownArgumentError"]


class UnknownArgumentError(TypeError):
    """A keyword argument that a coursekit layer or config does not take (a ``TypeError``, as
    Python's own "unexpected keyword argument"), with the valid names and the closest match.

    >>> from coursekit.nn import LSTM
    >>> try:
    ...     LSTM(4, 8, batch_frist=True)
    ... except UnknownArgumentError as error:
    ...     print(str(error).split("?")[0])
    LSTM got an unknown argument 'batch_frist'; did you mean 'batch_first'
    """


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` (difflib), or ``"."`` if none is close."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else "."


def reject_unknown(owner: str, unknown: dict, valid: Iterable[str]) -> None:
    """Raise :class:`UnknownArgumentError` when ``unknown`` (leftover keywords) is not empty."""
    if not unknown:
        return
    valid = list(valid)
    name = sorted(unknown)[0]
    others = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    raise UnknownArgumentError(
        f"{owner} got an unknown argument {name!r}{others}{did_you_mean(name, valid)} "
        f"Valid arguments: {', '.join(valid)}."
    )


def parameter_names(function: Callable, positional: bool = False) -> list[str]:
    """The names a callable accepts, in order, without ``self`` and ``**kwargs`` (with
    ``positional=True``, only those that may be passed by position)."""
    kinds = [inspect.Parameter.POSITIONAL_OR_KEYWORD]
    if not positional:
        kinds.append(inspect.Parameter.KEYWORD_ONLY)
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.name != "self" and p.kind in kinds
    ]


def strict_keywords(cls: type) -> type:
    """Class decorator for a dataclass: an unknown keyword raises :class:`UnknownArgumentError`
    naming the valid fields, instead of the generated ``__init__``'s bare ``TypeError``."""
    init = cls.__init__
    valid = parameter_names(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs) -> None:
        reject_unknown(cls.__name__, {k: v for k, v in kwargs.items() if k not in valid}, valid)
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


# --- constructor arguments: type and range -------------------------------------------------------
def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def check_int(owner: str, name: str, value: object, minimum: int = 1) -> None:
    """``value`` is an ``int`` (not a bool, not a string) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = (
            f": write {name}={value.strip()}" if isinstance(value, str) and value.isdigit() else ""
        )
        raise TypeError(f"{owner}: {name} must be an int, got {_describe(value)}{hint}.")
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{owner}: {name} must be {what}, got {value}.")


def check_fraction(owner: str, name: str, value: object) -> None:
    """``value`` is a number in ``[0, 1)`` (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number in [0, 1), got {_describe(value)}.")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value}.")


def check_positive(owner: str, name: str, value: object) -> None:
    """``value`` is a number above zero (an epsilon, a base)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a positive number, got {_describe(value)}.")
    if not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value}.")


def check_bool(owner: str, name: str, value: object, hint: str = "") -> None:
    """``value`` is ``True`` or ``False``; ``hint`` is added to the message (e.g. the argument order)."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False, got {_describe(value)}.{hint}")


def check_choice(owner: str, name: str, value: object, choices: Iterable[str]) -> None:
    """``value`` is one of ``choices``, with a "did you mean" for a near miss."""
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        near = did_you_mean(value, choices) if isinstance(value, str) else "."
        raise ValueError(f"{owner}: {name} must be one of {listed}, got {value!r}{near}")


# --- what reaches forward ------------------------------------------------------------------------
def check_config(owner: str, config: object, kind: type, example: str) -> None:
    """A model built from anything but its config dataclass gets told how to build one."""
    if not isinstance(config, kind):
        raise TypeError(
            f"{owner} takes a {kind.__name__}, got {type(config).__name__}: write {example}."
        )


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # PyTorch < 2.4 takes no device type
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled()
        return torch.is_autocast_enabled()


def check_float_input(x: Tensor, weight: Tensor, owner: str, input_size: int) -> None:
    """``x`` is a float tensor of the weight's dtype and device (any float dtype under autocast).

    Reads only metadata: no host-device synchronisation.
    """
    if not x.is_floating_point():
        if x.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
            raise TypeError(
                f"{owner} got token ids ({x.dtype}), but it takes vectors of {input_size} floats "
                f"per step: embed them first, e.g. nn.Embedding(vocab_size, {input_size})(ids)."
            )
        raise TypeError(f"{owner} takes a floating-point input, got {x.dtype}: use x.float().")
    if x.device != weight.device:
        raise ValueError(
            f"{owner}: the input is on {x.device} but the layer's weights are on "
            f"{weight.device}: move one to the other, e.g. x.to({str(weight.device)!r})."
        )
    if x.dtype != weight.dtype and not _autocast_on(x.device.type):
        raise TypeError(
            f"{owner}: the input is {x.dtype} but the layer's weights are {weight.dtype}: "
            f"convert one, e.g. x.to({weight.dtype}) or layer.to({x.dtype})."
        )


def check_token_ids(idx: Tensor, vocab_size: int, owner: str, check_range: bool = True) -> None:
    """``idx`` holds integer ids (always checked, from the dtype) in ``0..vocab_size-1``.

    The range check reads the smallest and largest id back to the host: one synchronisation per
    call on a GPU, so a model lets you switch it off (``check_range=False``). It is skipped while
    ``torch.compile`` traces, where it would break the graph.
    """
    if idx.is_floating_point() or idx.dtype in (torch.bool, torch.complex64, torch.complex128):
        raise TypeError(
            f"{owner} takes integer token ids (torch.long), got {idx.dtype}: a tokenizer's "
            f"encode gives ids; if these are whole numbers, pass idx.long()."
        )
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    if not check_range or idx.numel() == 0 or compiling:
        return
    low, high = (int(v) for v in torch.aminmax(idx))  # the one host read
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise IndexError(
            f"{owner}: token id {bad} is outside the vocabulary (vocab_size={vocab_size}, valid "
            f"ids 0..{vocab_size - 1}; these ids run {low}..{high}): encode with the tokenizer "
            f"the model was built for, or build it with vocab_size={max(high + 1, vocab_size)}."
        )


# --- attention and the Transformer (chapters 06-08) ----------------------------------------------
def check_attention_inputs(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, owner: str, same_width: bool = True
) -> None:
    """Queries ``(..., Tq, E)``, keys ``(..., Tk, E)``, values ``(..., Tk, Ev)`` and a mask that
    broadcasts to ``(..., Tq, Tk)``: bool (True = may attend) or float (added to the scores).

    Reads only metadata. ``same_width=False`` (additive attention) lets queries and keys differ.
    """
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.dim() < 2:
            raise ValueError(
                f"{owner}: {name} must have at least 2 dimensions (..., T, E), got shape "
                f"{tuple(t.shape)}; for one vector use {name}.unsqueeze(0)."
            )
        if not t.is_floating_point():
            raise TypeError(
                f"{owner} takes float {name} vectors, got {t.dtype}: embed token ids first, "
                f"e.g. nn.Embedding(vocab_size, width)(ids)."
            )
    if same_width and q.size(-1) != k.size(-1):
        raise ValueError(
            f"{owner}: query width {q.size(-1)} (shape {tuple(q.shape)}) differs from key width "
            f"{k.size(-1)} (shape {tuple(k.shape)}); a dot product needs equal widths: project "
            f"one with nn.Linear({q.size(-1)}, {k.size(-1)}) or use AdditiveAttention."
        )
    if k.size(-2) != v.size(-2):
        raise ValueError(
            f"{owner}: {k.size(-2)} keys (shape {tuple(k.shape)}) but {v.size(-2)} values (shape "
            f"{tuple(v.shape)}): every key needs one value, so pass tensors with the same T."
        )
    if mask is None:
        return
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(
            f"{owner}: the mask must be bool (True = may attend) or float (added to the scores), "
            f"got {mask.dtype}: for 0/1 flags write mask.bool()."
        )
    if mask.is_floating_point() and mask.dtype != q.dtype:
        raise TypeError(
            f"{owner}: a float mask is added to the scores, so it needs the query's dtype "
            f"{q.dtype}, got {mask.dtype}: write mask.to({q.dtype})."
        )
    target = (*torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]), q.size(-2), k.size(-2))
    try:
        fits = torch.broadcast_shapes(mask.shape, target) == torch.Size(target)
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{owner}: a mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
            f"{target} (..., Tq={q.size(-2)}, Tk={k.size(-2)}): give it shape (Tq, Tk), or "
            f"(B, 1, 1, Tk) for a padding mask (padding_mask(...) builds one)."
        )


def check_heads(owner: str, embed_dim: int, num_heads: int) -> None:
    """``num_heads`` divides ``embed_dim`` (each head gets ``embed_dim // num_heads`` columns)."""
    check_int(owner, "embed_dim", embed_dim)
    check_int(owner, "num_heads", num_heads)
    if embed_dim % num_heads:
        near = [h for h in range(1, embed_dim + 1) if embed_dim % h == 0]
        closest = min(near, key=lambda h: (abs(h - num_heads), h))
        raise ValueError(
            f"{owner}: num_heads={num_heads} does not divide embed_dim={embed_dim} (each head "
            f"takes embed_dim // num_heads columns): use num_heads={closest}, or an embed_dim "
            f"that is a multiple of {num_heads}, e.g. {num_heads * max(1, embed_dim // num_heads)}."
        )


def check_positions(owner: str, length: int, offset: int, max_len: int) -> None:
    """Positions ``offset .. offset + length - 1`` fit in a positional table of ``max_len`` rows."""
    if offset + length > max_len:
        start = f" starting at position {offset}" if offset else ""
        raise ValueError(
            f"{owner}: a sequence of {length} positions{start} is longer than the positional "
            f"table (max_len={max_len}): build the model with max_len >= {offset + length}, or "
            f"crop the input to its last {max_len - offset} tokens."
        )


def check_id_batch(idx: Tensor, vocab_size: int, owner: str, check_range: bool = True) -> None:
    """:func:`check_token_ids` and the shape ``(B, T)`` of a batch of id sequences."""
    check_token_ids(idx, vocab_size, owner, check_range)
    if idx.dim() != 2:
        raise ValueError(
            f"{owner}: expected token ids of shape (B, T), got {tuple(idx.shape)}; for one "
            f"sequence use idx.unsqueeze(0)."
        )
