"""Backpropagation through time in the LSTM, written out by hand: the appendix to chapter 04.

Autograd could differentiate the loop of :func:`~coursekit.nn.recurrent.lstm.lstm_step`, but
:class:`~coursekit.nn.LSTM` runs :class:`_LSTMSequence`, whose backward pass is the chain rule
written out, as PyTorch's own CPU (oneDNN) and GPU (cuDNN) LSTMs do. That halves the teaching
LSTM's gap to them (chapter 05 has the measurements; ``scripts/bench_recurrent.py`` repeats them).

Forward runs the equations (PyTorch's gate order i, f, g, o)::

    i, f, g, o = split(xp_t + h_{t-1} W_hh^T),  xp_t = x_t W_ih^T + b_ih + b_hh
    c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),      h_t = σ(o) ⊙ tanh(c_t)

and keeps, for every step, ``σ(i), σ(f), σ(o)``, ``tanh(g)``, ``c_t``, ``tanh(c_t)`` and ``h_t``.
Backward walks the steps in reverse (``d`` is ∂loss/∂·; chapter 03 derives BPTT for the RNN)::

    dh_t = dout_t + (gradient from step t+1)          (h_t is also the output at step t)
    dc_t = (gradient from step t+1) + dh_t ⊙ σ(o) ⊙ (1 - tanh²(c_t))
    d[i, f, g, o] = [dc_t ⊙ tanh(g) ⊙ σ'(i),   dc_t ⊙ c_{t-1} ⊙ σ'(f),
                     dc_t ⊙ σ(i) ⊙ tanh'(g),   dh_t ⊙ tanh(c_t) ⊙ σ'(o)]
    gradient to step t-1:  d[i, f, g, o] W_hh  for h,   dc_t ⊙ σ(f)  for c

The right-hand factors do not depend on the incoming gradient, so they are computed for all steps
at once before the loop. ``d[i, f, g, o]`` at step t is also the gradient of the input projection
``xp_t``, and ``dW_hh = Σ_t d[i, f, g, o]_t^T h_{t-1}`` is one matmul after the loop. Along the
cell state the gradient is multiplied only by the forget gates: chapter 04's answer to the
vanishing gradient of chapter 03.

Long sequences run in chunks of steps (:func:`lstm_layer`), the state carried from one chunk to
the next, so that every tensor kept for backward stays under ``_CHUNK_BYTES`` (memory the
allocator reuses; fresh memory for each large tensor costs more than the arithmetic).

``tests/test_recurrent.py`` checks all of it against ``nn.LSTM`` and ``gradcheck``.

Shapes (time-major): T steps, B batch, I input width, H hidden width.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from coursekit.nn.recurrent.base import fold_biases

__all__: list[str] = []  # internal: coursekit.nn.LSTM is the public face

_CHUNK_BYTES = 8 * 2**20  # glibc hands freed blocks under 32 MB back to later allocations

# σ'(x) = σ(1 - σ) and tanh'(x) = 1 - tanh², times an incoming gradient, by PyTorch's own one-pass
# kernels: _sigmoid_grad(grad, s) = grad ⊙ s ⊙ (1 - s), _tanh_grad(grad, t) = grad ⊙ (1 - t²).
_sigmoid_grad = torch.ops.aten.sigmoid_backward
_tanh_grad = torch.ops.aten.tanh_backward


def _autocast_off(device: torch.device):
    """Autocast switched off where it can be on (older PyTorch rejects other device types)."""
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


class _LSTMSequence(torch.autograd.Function):
    """One LSTM layer over a whole sequence, with backpropagation through time by hand.

    Shapes (time-major): xp ``(T, B, 4H)`` (both biases included), h0 and c0 ``(B, H)``,
    weight_hh ``(4H, H)``, mask ``(T, B, 1)`` bool or None -> out ``(T, B, H)``, h_T and c_T
    ``(B, H)``. Past a sequence's end (mask False) the state is kept and the output is zero.

    Computes in the weight's dtype, also under autocast, which would otherwise round the
    recurrence to 16 bits at every step. Forward needs no guard for that: it writes every matmul
    into a buffer (``out=``), which autocast leaves alone, and its other operations are
    elementwise. Backward's matmuls are out-of-place, so it switches autocast off (a
    ``loss.backward()`` inside an autocast block runs with autocast on).
    No second derivatives: ``create_graph=True`` through this layer raises (use ``fused=True``).
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, weight_hh, mask):
        dtype = weight_hh.dtype
        xp, h0, c0 = xp.to(dtype), h0.to(dtype), c0.to(dtype)
        steps, batch, gates = xp.shape
        H = gates // 4
        acts = xp.new_empty(steps, batch, gates)  # σ(i), σ(f), (σ(g), unused), σ(o)
        gs, cs, tanh_cs, hs = (xp.new_empty(steps, batch, H) for _ in range(4))
        w_t, h, c = weight_hh.t(), h0, c0
        for t, xp_t in enumerate(xp.unbind(0)):
            a = torch.addmm(xp_t, h, w_t, out=acts[t])  # pre-activations xp_t + h W_hh^T
            g = torch.tanh(a[:, 2 * H : 3 * H], out=gs[t])  # the candidate, before ...
            a.sigmoid_()  # ... the gates overwrite the pre-activations (σ(g) is not used)
            i, f, o = a[:, :H], a[:, H : 2 * H], a[:, 3 * H :]
            if mask is None:
                c = torch.addcmul(f * c, i, g, out=cs[t])  # c_t = f ⊙ c_{t-1} + i ⊙ g
                h = torch.mul(o, torch.tanh(c, out=tanh_cs[t]), out=hs[t])  # o ⊙ tanh(c_t)
            else:  # a finished sequence keeps its state; its gradients are masked below
                c_new = torch.addcmul(f * c, i, g)
                h_new = o * torch.tanh(c_new, out=tanh_cs[t])
                c = torch.where(mask[t], c_new, c, out=cs[t])
                h = torch.where(mask[t], h_new, h, out=hs[t])
        ctx.save_for_backward(acts, gs, cs, tanh_cs, hs, h0, c0, weight_hh, mask)
        out = hs if mask is None else hs * mask  # outputs past a sequence's end are zeros
        return out, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h, d_c):
        acts, gs, cs, tanh_cs, hs, h0, c0, weight_hh, mask = ctx.saved_tensors
        with _autocast_off(acts.device):
            dtype, H = acts.dtype, h0.size(-1)
            d_out = d_out.to(dtype) if mask is None else d_out.to(dtype) * mask
            i, f, _, o = acts.chunk(4, dim=-1)  # each (T, B, H)
            factor = torch.empty_like(acts)  # the right-hand factors of d[i, f, g, o]
            _sigmoid_grad(gs, i, grad_input=factor[..., :H])
            _sigmoid_grad(c0, f[0], grad_input=factor[0, :, H : 2 * H])  # c_{t-1} ⊙ σ'(f)
            _sigmoid_grad(cs[:-1], f[1:], grad_input=factor[1:, :, H : 2 * H])
            _tanh_grad(i, gs, grad_input=factor[..., 2 * H : 3 * H])
            _sigmoid_grad(tanh_cs, o, grad_input=factor[..., 3 * H :])
            dc_per_dh = _tanh_grad(o, tanh_cs)  # σ(o) ⊙ (1 - tanh²(c_t))
            if mask is not None:  # steps past a sequence's end contribute nothing
                factor.mul_(mask)
            # The output gradient that arrives at h_{t-1}, and zeros before the first step.
            d_out_prev = torch.cat((torch.zeros_like(d_out[:1]), d_out[:-1]))
            d_xp = torch.empty_like(acts)  # d[i, f, g, o] at every step
            dh, dc = d_h.to(dtype) + d_out[-1], d_c.to(dtype)
            for t in reversed(range(acts.size(0))):
                dc_t = torch.addcmul(dc, dh, dc_per_dh[t])
                d_gates = torch.mul(torch.cat((dc_t, dc_t, dc_t, dh), 1), factor[t], out=d_xp[t])
                if mask is None:
                    dh = torch.addmm(d_out_prev[t], d_gates, weight_hh)  # d_gates W_hh + dout_{t-1}
                    dc = dc_t * f[t]
                else:  # a finished sequence passes its gradient back unchanged
                    dh = torch.where(mask[t], d_gates @ weight_hh, dh) + d_out_prev[t]
                    dc = torch.where(mask[t], dc_t * f[t], dc)
            d_weight = None
            if ctx.needs_input_grad[3]:  # Σ_t d_t^T h_{t-1}: step 0 (h_0), then all the others
                d_weight = torch.addmm(
                    d_xp[0].t() @ h0, d_xp[1:].flatten(0, 1).t(), hs[:-1].flatten(0, 1)
                )
        return d_xp, dh, dc, d_weight, None


def lstm_layer(
    x: Tensor, state: tuple[Tensor, Tensor], weights: tuple, mask: Tensor | None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One LSTM layer over a time-major sequence, in chunks of steps of at most ``_CHUNK_BYTES``.

    Shape:
        x ``(T, B, I)``, state ``(h, c)`` each ``(B, H)``, weights ``(w_ih, w_hh, b_ih, b_hh)``,
        mask ``(T, B, 1)`` or None -> out ``(T, B, H)``, ``(h_T, c_T)``.
    """
    w_ih, w_hh, b_ih, b_hh = weights
    h, c = state
    chunk = max(1, _CHUNK_BYTES // (x.size(1) * w_hh.size(0) * w_hh.element_size()))
    x_chunks = x.split(chunk)  # split, not x[a:b] in the loop: one copy in backward
    masks = [None] * len(x_chunks) if mask is None else mask.split(chunk)
    outputs = []
    for x_chunk, m in zip(x_chunks, masks, strict=True):
        xp = F.linear(x_chunk, w_ih, fold_biases(b_ih, b_hh))  # (chunk, B, 4H)
        out, h, c = _LSTMSequence.apply(xp, h, c, w_hh, m)
        outputs.append(out)
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs)), (h, c)
