"""The course on a GPU, in one command that takes under 5 minutes: parity, training, throughput.

1. **Parity on the device.** Each layer runs in float32 on the device and is compared, values
   and gradients, with PyTorch's own layer or the unfused path in float64 on the CPU. The layers
   are: attention (both paths, causal and padding masks) against SDPA; multi-head attention
   against `nn.MultiheadAttention`; the encoder and decoder layers against
   `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer`; the teaching RNN / LSTM / GRU
   against `nn.RNN/LSTM/GRU`; and GPT decoding with the key/value cache against recomputing the
   whole prefix. A tolerance is float32's, scaled by the size of the values.
2. **SDPA's kernels.** On CUDA, coursekit's attention runs under the flash and the
   memory-efficient backends alone (bf16; fp16 on a card older than compute capability 8.0, where
   flash is skipped), so a path that would fall back to the slow kernel is found here.
3. **One training run per preset** on the device: chapter 08's pretraining (`coursekit.pretrain`
   with its fused AdamW, pinned batches and bf16 autocast, on a small stream), chapter 06/07's
   translation models, and chapter 03's recurrent language model. Each must lower its loss.
4. **Throughput.** The course GPT's training step (B64, T256, bf16 autocast on a CUDA card with
   bf16 units, fused AdamW) in tokens/s, its FLOP/s (counted by `torch.utils.flop_counter`), and
   that as a fraction of the device's measured matmul peak in the same precision.

It prints one line per check and exits 1 if any parity check fails.

    python scripts/gpu_check.py                          # on the machine's GPU
    python scripts/gpu_check.py --device cpu --quick     # the same checks on a CPU (tested)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from coursekit.device import DEVICE_ENV, autocast, cuda_bf16_native, get_device
from coursekit.nn import (
    GPT,
    GPTConfig,
    MultiHeadAttention,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    attend,
    causal_mask,
    make_recurrent,
)
from coursekit.report import matmul_gflops

FAILED: list[str] = []


def report(name: str, ok: bool, detail: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILED.append(name)


# -- 1. parity -----------------------------------------------------------------------------------
def _grads(fn: Callable[..., torch.Tensor], inputs: list[torch.Tensor], params) -> list:
    """Output, input gradients and parameter gradients of ``fn(*inputs)`` under a fixed random
    weighting of the output."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    for p in params:
        p.grad = None
    out = fn(*leaves)
    g = torch.Generator().manual_seed(3)
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.device, out.dtype)
    (out * weights).sum().backward()
    return [out, *(t.grad for t in leaves), *(p.grad for p in params)]


def _compare(name: str, device_side: list, cpu64_side: list, tol: float = 1e-4) -> None:
    worst = 0.0
    for a, b in zip(device_side, cpu64_side, strict=True):
        a, b = a.detach().double().cpu(), b.detach().double()
        scale = b.abs().max().clamp_min(1.0)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    report(f"parity: {name}", worst <= tol, f"largest relative difference {worst:.1e}")


def parity(device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    b, h, t, d = 3, 4, 37, 16
    q, k, v = (torch.randn(b, h, t, d, generator=g, dtype=torch.float64) for _ in range(3))
    lengths = torch.tensor([t, t - 5, 9])
    keep = torch.arange(t)[None, :] < lengths[:, None]  # (B, T) True = a real key
    mask = keep[:, None, None, :]
    for impl in ("sdpa", "naive"):
        for label, kw, ref_kw in (
            ("causal", {"causal": True}, {"is_causal": True}),
            ("padding", {"mask": mask}, {"attn_mask": mask}),
        ):
            ours = _grads(lambda q, k, v: attend(q, k, v, impl=impl, **kw),  # noqa: B023
                          [x.to(device, torch.float32) for x in (q, k, v)], [])  # fmt: skip
            ref = _grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **ref_kw),  # noqa: B023
                         [q, k, v], [])  # fmt: skip
            _compare(f"attend(impl={impl!r}), {label} mask / SDPA", ours, ref)

    c = h * d
    x = torch.randn(b, t, c, generator=g, dtype=torch.float64)
    torch.manual_seed(0)
    ref_mha = nn.MultiheadAttention(c, h, batch_first=True, dtype=torch.float64)
    ours_mha = MultiHeadAttention.from_torch(ref_mha).to(device, torch.float32)
    pad = ~keep
    _compare(
        "MultiHeadAttention / nn.MultiheadAttention (key padding)",
        _grads(lambda x: ours_mha(x, key_padding_mask=pad.to(device))[0],
               [x.to(device, torch.float32)], list(ours_mha.parameters())),
        _grads(lambda x: ref_mha(x, x, x, key_padding_mask=pad)[0], [x],
               list(ref_mha.parameters())),
    )  # fmt: skip

    memory = torch.randn(b, 11, c, generator=g, dtype=torch.float64)
    for ours_cls, ref_cls, extra in (
        (TransformerEncoderLayer, nn.TransformerEncoderLayer, []),
        (TransformerDecoderLayer, nn.TransformerDecoderLayer, [memory]),
    ):
        for norm_first in (False, True):
            torch.manual_seed(1)
            ref = ref_cls(c, h, 4 * c, dropout=0.0, batch_first=True, norm_first=norm_first,
                          dtype=torch.float64)  # fmt: skip
            ours = ours_cls(c, h, 4 * c, dropout=0.0, norm_first=norm_first)
            ours.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
            ours.to(device)
            m = ~causal_mask(t)
            key = "src_mask" if not extra else "tgt_mask"
            _compare(
                f"{ours_cls.__name__}(norm_first={norm_first}) / nn.{ref_cls.__name__}",
                _grads(lambda *a: ours(*a, **{key: m.to(device)}),  # noqa: B023
                       [x.to(device, torch.float32), *(e.to(device, torch.float32) for e in extra)],
                       list(ours.parameters())),
                _grads(lambda *a: ref(*a, **{key: m}), [x, *extra],  # noqa: B023
                       list(ref.parameters())),
            )  # fmt: skip

    seq = torch.randn(b, 23, 10, generator=g, dtype=torch.float64)
    for kind in ("rnn", "lstm", "gru"):
        torch.manual_seed(2)
        ref = make_recurrent(kind, 10, 24, dtype=torch.float64)  # the fused kernel, float64
        ref.fused = True
        ours = make_recurrent(kind, 10, 24).to(device)
        ours.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
        ours.fused = False  # the teaching loop, on the device
        _compare(
            f"teaching {kind.upper()} on the device / nn.{kind.upper()} (float64, CPU)",
            _grads(lambda s: ours(s)[0], [seq.to(device, torch.float32)],  # noqa: B023
                   list(ours.parameters())),
            _grads(lambda s: ref(s)[0], [seq], list(ref.parameters())),  # noqa: B023
        )  # fmt: skip

    torch.manual_seed(3)
    gpt = GPT(GPTConfig(vocab_size=97, context_size=32, embed_dim=48, num_heads=4,
                        num_layers=2, dropout=0.0)).to(device).eval()  # fmt: skip
    ids = torch.randint(97, (2, 20), generator=g).to(device)
    with torch.no_grad():
        full = gpt(ids)
        cache, pieces = None, []
        for start, stop in ((0, 7), (7, 8), (8, 15), (15, 20)):
            logits, cache = gpt.forward_with_state(ids[:, start:stop], cache)
            pieces.append(logits)
    _compare("GPT decoding with the KV cache / recomputing the prefix",
             [torch.cat(pieces, 1)], [full.double().cpu()])  # fmt: skip


# -- 2. SDPA kernels -----------------------------------------------------------------------------
def sdpa_kernels(device: torch.device) -> None:
    if device.type != "cuda":
        print("skip SDPA kernels: they are CUDA's (flash, memory-efficient)")
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    major, minor = torch.cuda.get_device_capability(device)
    half = torch.bfloat16 if major >= 8 else torch.float16  # no bf16 units before 8.0
    q, k, v = (torch.randn(8, 8, 512, 64, device=device, dtype=half) for _ in range(3))
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        if backend == SDPBackend.FLASH_ATTENTION and major < 8:
            print(f"skip SDPA FLASH_ATTENTION: it needs compute capability 8.0 (this card: "
                  f"{major}.{minor}; PyTorch falls back to the other kernels)")  # fmt: skip
            continue
        try:
            with sdpa_kernel(backend):
                out = attend(q, k, v, causal=True)
            ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
            err = (out.float() - ref).abs().max().item()
            report(f"SDPA {backend.name}", err < 5e-2,
                   f"runs; {str(half)[6:]} vs fp32 max error {err:.1e}")  # fmt: skip
        except RuntimeError as error:
            report(f"SDPA {backend.name}", False, f"not usable: {str(error)[:160]}")


# -- 3. one training run per preset --------------------------------------------------------------
def _loss_falls(name: str, first: float, last: float, seconds: float) -> None:
    report(f"train: {name}", last < first, f"loss {first:.3f} -> {last:.3f} in {seconds:.1f} s")


def presets(device: torch.device, quick: bool) -> None:
    from coursekit.pretrain import PretrainConfig, pretrain

    steps = 30 if quick else 200
    config = PretrainConfig(corpora=("shakespeare_tiny",), vocab_size=512, context_size=128,
                            embed_dim=96, num_heads=4, num_layers=3, batch_size=16, steps=steps,
                            warmup=5, eval_every=steps, eval_batches=2,
                            checkpoint_every=steps)  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        results = pretrain(config, Path(work), verbose=False)
        curve = results["valid_curve"]
    _loss_falls(
        f"chapter 08 pretraining ({results['device']}, precision {results['precision_used']}, "
        f"{results['tokens_per_second']:,} tokens/s)",
        float(torch.log(torch.tensor(512.0))), curve[-1][1], time.perf_counter() - started,
    )  # fmt: skip

    from types import SimpleNamespace

    from coursekit.seq2seq import seq2seq_loss
    from coursekit.translation import LEARNING_RATES, make_translation_model

    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 300, (32, 12), generator=g)
    bos = torch.full((32, 1), 2)  # learn to copy the source: the loss must fall
    batch = SimpleNamespace(src=src.to(device), src_mask=torch.ones_like(src, dtype=torch.bool)
                            .to(device), tgt_in=torch.cat([bos, src[:, :-1]], 1).to(device),
                            tgt_out=src.to(device))  # fmt: skip
    for name in ("attention RNN", "Transformer"):
        model = make_translation_model(name, vocab_size=300).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATES[name] / 4)
        losses, started = [], time.perf_counter()
        for _ in range(10 if quick else 60):
            opt.zero_grad(set_to_none=True)
            with autocast(device):
                loss, _ = seq2seq_loss(model, batch)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        _loss_falls(f"chapter 06/07 {name} (copying)", losses[0], losses[-1],
                    time.perf_counter() - started)  # fmt: skip

    from coursekit.nn import RecurrentLM, RecurrentLMConfig
    from coursekit.train import train

    lm = RecurrentLM(RecurrentLMConfig(vocab_size=65, cell="lstm", embed_dim=32,
                                       hidden_size=128)).to(device)  # fmt: skip
    text = (torch.arange(20_000) * 7) % 65  # a learnable sequence: each id fixes the next

    def windows(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = range(i * 16, i * 16 + 16)
        return (torch.stack([text[j : j + 64] for j in starts]),
                torch.stack([text[j + 1 : j + 65] for j in starts]))  # fmt: skip

    started = time.perf_counter()
    history = train(lm, windows, optimizer=torch.optim.Adam(lm.parameters(), lr=3e-3),
                    steps=20 if quick else 100, progress=False, live_plot=False)  # fmt: skip
    _loss_falls("chapter 03-05 recurrent LM", history.train_loss[0], history.train_loss[-1],
                time.perf_counter() - started)  # fmt: skip


# -- 4. throughput -------------------------------------------------------------------------------
def throughput(device: torch.device, quick: bool) -> None:
    b, t = (8, 128) if quick else (64, 256)
    config = GPTConfig(vocab_size=4096, context_size=t, embed_dim=192, num_heads=6,
                       num_layers=6, dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    model = GPT(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda" or None)
    ids = torch.randint(4096, (b, t + 1), generator=torch.Generator().manual_seed(1)).to(device)
    x, y = ids[:, :-1], ids[:, 1:]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(device):
            loss = F.cross_entropy(model(x).float().flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(2):
        step()
    sync()
    n = 3 if quick else 20
    started = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    seconds = (time.perf_counter() - started) / n
    native = device.type == "cuda" and cuda_bf16_native()
    dtype = torch.bfloat16 if native else torch.float32  # what autocast(device) trained in
    peak = matmul_gflops(n=8192 if device.type == "cuda" else 512, dtype=dtype, device=device)
    achieved = flops / seconds / 1e9
    print(f"     throughput: GPT {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M, B{b} "
          f"T{t}: {b * t / seconds:,.0f} tokens/s, {achieved:,.0f} GFLOP/s = "
          f"{achieved / peak:.0%} of the measured {str(dtype)[6:]} matmul peak "
          f"({peak:,.0f} GFLOP/s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: the GPU (get_device)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and smaller batches")
    args = parser.parse_args()
    device = get_device(args.device)
    os.environ[DEVICE_ENV] = str(device)  # pretrain() picks its own device: this one
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"
    print(f"gpu_check on {device} ({name}), torch {torch.__version__}", flush=True)
    if device.type != "cuda":
        print("no CUDA device: the checks below run on the CPU (what the test suite does)")
    started = time.perf_counter()
    parity(device)
    sdpa_kernels(device)
    presets(device, args.quick)
    throughput(device, args.quick)
    print(f"{len(FAILED)} failed; {time.perf_counter() - started:.0f} s in all")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
