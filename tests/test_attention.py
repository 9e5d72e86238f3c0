"""Parity of coursekit.nn.attention with F.scaled_dot_product_attention and nn.MultiheadAttention
in float64 (values and gradients, random shapes and seeds), and its errors on bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit.nn import (
    AdditiveAttention,
    MultiHeadAttention,
    attend,
    causal_mask,
    dot_product_attention,
    padding_mask,
    scaled_dot_product_attention,
)

TOL = {"rtol": 1e-9, "atol": 1e-11}
MASKS = ("none", "causal", "padding", "float", "causal+padding")


def _sizes(seed: int):
    gen = torch.Generator().manual_seed(seed)
    b, h, tq, tk, e, ev = (int(v) for v in torch.randint(1, 7, (6,), generator=gen))
    return gen, b, h, tq + 1, tk + 1, e, ev


def _qkv(seed: int, same_length: bool = False):
    gen, b, h, tq, tk, e, ev = _sizes(seed)
    tk = tq if same_length else tk
    make = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)  # noqa: E731
    return gen, make(b, h, tq, e), make(b, h, tk, e), make(b, h, tk, ev)


def _mask(kind: str, gen, q, k):
    """(our mask, causal flag) and the same as one explicit mask for torch's SDPA."""
    b, tq, tk = q.size(0), q.size(-2), k.size(-2)
    lengths = torch.randint(1, tk + 1, (b,), generator=gen)
    lengths[0] = tk  # one row without padding
    real = torch.arange(tk)[None, :] < lengths[:, None]  # (B, Tk), True on real keys
    causal = causal_mask(tq, tk)
    if kind == "none":
        return None, False, None
    if kind == "causal":
        return None, True, causal
    if kind == "padding":
        return padding_mask(real), False, padding_mask(real)
    if kind == "float":
        bias = torch.randn(tq, tk, generator=gen, dtype=torch.float64)
        return bias, False, bias
    return padding_mask(real), True, padding_mask(real) & causal


def _grads(fn, *tensors):
    leaves = [t.clone().requires_grad_() for t in tensors]
    out = fn(*leaves)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype)
    (out * weights).sum().backward()
    return out.detach(), [t.grad for t in leaves]


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("impl", ["naive", "sdpa"])
def test_both_paths_match_torch_sdpa_values_and_gradients(impl, seed, kind):
    gen, q, k, v = _qkv(seed, same_length=kind == "causal" and seed == 0)
    mask, causal, ref_mask = _mask(kind, gen, q, k)
    ours, our_grads = _grads(
        lambda q, k, v: attend(q, k, v, mask, causal=causal, impl=impl), q, k, v
    )
    ref, ref_grads = _grads(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, ref_mask), q, k, v
    )
    torch.testing.assert_close(ours, ref, **TOL)
    for a, b in zip(our_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_the_teaching_version_returns_weights_that_sum_to_one_and_respect_the_mask():
    _, q, k, v = _qkv(3)
    out, weights = scaled_dot_product_attention(q, k, v, causal=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=q.dtype))
    assert (weights[..., ~causal_mask(q.size(-2), k.size(-2))] == 0).all()
    torch.testing.assert_close(out, weights @ v)


def test_dot_product_attention_is_the_unscaled_score():
    _, q, k, v = _qkv(4)
    ours = dot_product_attention(q, k, v)[0]
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, scale=1.0), **TOL)


def test_a_query_with_nothing_to_attend_to_gets_zeros_in_both_paths():
    _, q, k, v = _qkv(5)
    mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool)
    mask[0] = False
    for impl in ("naive", "sdpa"):
        out = attend(q, k, v, mask, impl=impl)
        assert torch.isfinite(out).all() and (out[..., 0, :] == 0).all(), impl


def _additive_by_loops(attn: AdditiveAttention, query, key, value, mask):
    """score(q_i, k_j) = w_v . tanh(W_q q_i + W_k k_j), one pair at a time."""
    b, tq, tk = query.size(0), query.size(1), key.size(1)
    scores = torch.empty(b, tq, tk, dtype=query.dtype)
    for n in range(b):
        for i in range(tq):
            for j in range(tk):
                hidden = torch.tanh(attn.W_q.weight @ query[n, i] + attn.W_k.weight @ key[n, j])
                scores[n, i, j] = attn.w_v.weight[0] @ hidden
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights @ value, weights


def test_additive_attention_is_its_equation_with_different_query_and_key_widths():
    torch.manual_seed(0)
    attn = AdditiveAttention(3, 5, 4).double()
    query, key, value = (
        torch.randn(2, t, d, dtype=torch.float64) for t, d in ((2, 3), (4, 5), (4, 6))
    )
    value = torch.randn(2, 4, 6, dtype=torch.float64)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])[:, None, :]  # (B, 1, Tk)
    context, weights = attn(query, key, value, mask)
    ref_context, ref_weights = _additive_by_loops(attn, query, key, value, mask)
    torch.testing.assert_close(context, ref_context, **TOL)
    torch.testing.assert_close(weights, ref_weights, **TOL)
    assert (weights[1, :, 2:] == 0).all()


def _mha_pair(seed: int, batch_first: bool = True):
    gen = torch.Generator().manual_seed(seed)
    h, e = (int(v) for v in torch.randint(1, 4, (2,), generator=gen))
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(h * e, h, batch_first=batch_first, dtype=torch.float64)
    nn.init.normal_(ref.in_proj_bias)  # torch starts the biases at zero: make them count
    nn.init.normal_(ref.out_proj.bias)
    return MultiHeadAttention.from_torch(ref), ref, gen, h * e


def _mha_run(module, x, kv, masks, need_weights, average):
    module.zero_grad(set_to_none=True)
    out, grads = _grads(
        lambda x, kv: module(x, kv, kv, need_weights=need_weights,
                             average_attn_weights=average, **masks)[0],
        x, kv,
    )  # fmt: skip
    weights = module(x, kv, kv, need_weights=True, average_attn_weights=average, **masks)[1]
    return out, weights, grads + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("masks", ["none", "padding", "bool", "float", "both"])
@pytest.mark.parametrize("seed", [0, 1])
def test_multi_head_attention_matches_torch_with_masks(seed, masks):
    ours, ref, gen, c = _mha_pair(seed)
    b, tq, tk = (int(v) for v in torch.randint(2, 6, (3,), generator=gen))
    x = torch.randn(b, tq, c, generator=gen, dtype=torch.float64)
    kv = torch.randn(b, tk, c, generator=gen, dtype=torch.float64)
    padding = torch.zeros(b, tk, dtype=torch.bool)
    padding[1, tk // 2 + 1 :] = True  # True on padding, as torch
    blocked = ~causal_mask(tq, tk)  # True = masked out, as torch
    blocked[:, 0] = False  # every query keeps one key
    kw = {
        "none": {},
        "padding": {"key_padding_mask": padding},
        "bool": {"attn_mask": blocked},
        "float": {"attn_mask": torch.randn(tq, tk, generator=gen, dtype=torch.float64)},
        "both": {"key_padding_mask": padding, "attn_mask": blocked},
    }[masks]
    for need_weights, average in ((False, True), (True, True), (True, False)):
        mine = _mha_run(ours, x, kv, kw, need_weights, average)
        theirs = _mha_run(ref, x, kv, kw, need_weights, average)
        torch.testing.assert_close(mine[0], theirs[0], **TOL)
        torch.testing.assert_close(mine[1], theirs[1], **TOL)
        for a, t in zip(mine[2], theirs[2], strict=True):
            torch.testing.assert_close(a, t, **TOL)


def test_multi_head_attention_weights_load_both_ways_and_time_major_works():
    ours, ref, gen, c = _mha_pair(2, batch_first=False)
    x = torch.randn(4, 3, c, generator=gen, dtype=torch.float64)  # (T, B, C)
    torch.testing.assert_close(ours(x, x, x)[0], ref(x, x, x)[0], **TOL)
    back = ours.to_torch()
    assert back.batch_first is False and set(back.state_dict()) == set(ref.state_dict())
    for name, p in ref.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name


def test_multi_head_attention_is_causal_alone_applies_the_causal_mask():
    ours, _, gen, c = _mha_pair(3)
    x = torch.randn(2, 5, c, generator=gen, dtype=torch.float64)
    causal = ours(x, is_causal=True)[0]
    torch.testing.assert_close(causal, ours(x, attn_mask=~causal_mask(5))[0], **TOL)
    assert not torch.allclose(causal, ours(x)[0])


# --- bad input: each error names the shapes and the fix --------------------------------------
def test_mismatched_query_and_key_widths_name_both_shapes_and_the_fix():
    with pytest.raises(ValueError, match=r"query width 4 .*\(2, 3, 4\).* key width 5.*nn\.Linear"):
        attend(torch.randn(2, 3, 4), torch.randn(2, 6, 5), torch.randn(2, 6, 5))
    with pytest.raises(ValueError, match=r"6 keys .* 7 values"):
        attend(torch.randn(2, 3, 4), torch.randn(2, 6, 4), torch.randn(2, 7, 4), impl="naive")


def test_a_mask_of_the_wrong_shape_or_dtype_is_refused_with_the_fix():
    q = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 5\) does not broadcast .*Tq=3, Tk=5"):
        attend(q, torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"bool .* got torch.int64: .*mask.bool\(\)"):
        attend(q, q, q, torch.ones(3, 3, dtype=torch.long), impl="naive")
    with pytest.raises(TypeError, match=r"mask.to\(torch.float32\)"):
        attend(q, q, q, torch.zeros(3, 3, dtype=torch.float64))
    mha = MultiHeadAttention(4, 2)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Tk\) = \(2, 3\)"):
        mha(q, key_padding_mask=torch.zeros(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(Tq, Tk\) = \(3, 3\)"):
        mha(q, attn_mask=torch.zeros(2, 3, dtype=torch.bool))


def test_heads_that_do_not_divide_the_width_and_other_bad_settings():
    with pytest.raises(ValueError, match=r"num_heads=3 does not divide embed_dim=8.*num_heads=2"):
        MultiHeadAttention(8, 3)
    with pytest.raises(
        ValueError, match=r"impl must be one of 'sdpa', 'naive'.*did you mean 'sdpa'"
    ):
        MultiHeadAttention(8, 2, impl="spda")
    with pytest.raises(TypeError, match=r"unknown argument 'batchfirst'.*'batch_first'"):
        MultiHeadAttention(8, 2, batchfirst=True)
    with pytest.raises(
        ValueError, match=r"MultiHeadAttention\(embed_dim=8\) got query \(2, 3, 6\).*must be 8"
    ):
        MultiHeadAttention(8, 2)(torch.randn(2, 3, 6))
    with pytest.raises(TypeError, match=r"token ids .*nn\.Embedding"):
        attend(torch.ones(2, 3, 4, dtype=torch.long), torch.randn(2, 3, 4), torch.randn(2, 3, 4))
