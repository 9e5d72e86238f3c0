"""`make bench`: every speed claim of the course in one run, as ratios against a reference.

Each line times one of coursekit's layers or training steps against its reference on the same
inputs, at 1 and at 2 threads, and gives the target that its chapter's issue set, with whether it
holds:

- the teaching RNN / LSTM / GRU loops vs PyTorch's kernels (chapters 03-05);
- causal attention and multi-head attention vs SDPA and `nn.MultiheadAttention` (chapter 07);
- a GPT training step (forward, backward, AdamW) vs the same model built from PyTorch's own
  layers (`nn.TransformerEncoderLayer`, chapter 08). Both get the same weights, and their losses
  are checked to agree before any timing. No chapter set this target; the line holds the course's
  GPT to at most 1.1x PyTorch's own layers (chapter 08's own bar was against nanoGPT:
  `scripts/bench_gpt.py`);
- BPE training and encoding vs Hugging Face `tokenizers` (chapter 08), and word2vec vs gensim
  (chapter 01): reported, since those chapters set no speed target;
- the machine's fp32 and bf16 matrix-multiply roofline, and each training step's achieved FLOP/s
  (counted by `torch.utils.flop_counter`) as a fraction of the fp32 roofline.

Both sides of a pair run in this process, interleaved in alternating order, and a ratio is the
median of the paired rounds (:mod:`coursekit.benchmark`). A burst of load from elsewhere therefore
hits both sides alike. Still, run nothing else CPU-heavy beside it. It prints; it asserts nothing.

    make bench                                   # about 5-9 minutes on a quiet 2-core laptop
    .venv/bin/python scripts/bench.py --quick    # smaller sizes, fewer rounds: a first look
    .venv/bin/python scripts/bench.py --only attention gpt --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from coursekit.benchmark import paired_calls
from coursekit.device import cpu_bf16_support
from coursekit.nn import GPT, GPTConfig
from coursekit.report import cpu_model, matmul_gflops

HERE = Path(__file__).resolve().parent
SECTIONS = ("roofline", "recurrent", "attention", "gpt", "bpe", "word2vec")


@dataclass
class Line:
    """One comparison at one thread count."""

    name: str
    threads: int | str
    ours_s: float
    theirs_s: float
    ratio: float
    target: float | None = None  # ratio <= target holds; None: no target, reported
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "reported"
        return "holds" if self.ratio <= self.target else "MISSED"


# -- the roofline --------------------------------------------------------------------------------
def roofline(threads: int, quick: bool) -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s at ``threads`` (bf16 smaller where it is emulated)."""
    fp32 = matmul_gflops(threads, n=512 if quick else 1024, repeats=3 if quick else 5)
    n = 1024 if cpu_bf16_support() else 256  # emulated bf16 is 40-140x slower: keep it short
    bf16 = matmul_gflops(threads, n=n, repeats=2 if quick else 3, dtype=torch.bfloat16)
    return {"fp32": fp32, "bf16": bf16}


# -- recurrent layers ----------------------------------------------------------------------------
def recurrent(threads: int, quick: bool) -> list[Line]:
    sys.path.insert(0, str(HERE))
    import bench_recurrent

    args = argparse.Namespace(batch=32, input=64, hidden=256, layers=1,
                              warmup=1 if quick else 2, repeats=5 if quick else 7)  # fmt: skip
    targets = {"rnn": 1.15, "lstm": 1.8, "gru": 1.15}
    lines, per_step = [], {}
    for kind, target in targets.items():
        for steps in (64, 256):
            ours, theirs, ratio = bench_recurrent.bench(kind, steps, args)
            per_step[kind, steps] = ours / steps
            name = f"teaching {kind.upper()} / nn.{kind.upper()} (T={steps})"
            lines.append(Line(name, threads, ours, theirs, ratio, target))
        growth = per_step[kind, 256] / per_step[kind, 64]
        name = f"teaching {kind.upper()} time per step, T=256 / T=64"
        slow, fast = per_step[kind, 256], per_step[kind, 64]
        lines.append(Line(name, threads, slow, fast, growth, 1.3, "cost linear in T"))
    return lines


# -- attention -----------------------------------------------------------------------------------
def attention(threads: int, quick: bool) -> list[Line]:
    sys.path.insert(0, str(HERE))
    import bench_attention

    rows = bench_attention.measure(8, 4, 128 if quick else 256, 32, 1 if quick else 3,
                                   7 if quick else 21)  # fmt: skip
    return [Line(name, threads, o, t, r, target) for name, o, t, r, target in rows]


# -- a GPT training step -------------------------------------------------------------------------
class TorchGPT(nn.Module):
    """The same pre-norm GPT-2 stack from PyTorch's own layers (tied output layer)."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(c.vocab_size, c.embed_dim)
        self.pos = nn.Embedding(c.context_size, c.embed_dim)
        layer = nn.TransformerEncoderLayer(
            c.embed_dim, c.num_heads, c.hidden_dim, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, c.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.embed_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
        x = self.blocks(x, mask=mask, is_causal=True)
        return self.norm(x) @ self.tok.weight.T


def _copy_gpt_into_torch(ours: GPT, theirs: TorchGPT) -> None:
    """Load our GPT's weights into the PyTorch-layers model: the blocks already use PyTorch's
    parameter names (``self_attn.in_proj_weight``, ``linear1``, ``norm1``, ...)."""
    src = ours.state_dict()
    with torch.no_grad():
        theirs.tok.weight.copy_(src["tok.weight"])
        theirs.pos.weight.copy_(src["pos.embedding.weight"])
        theirs.norm.weight.copy_(src["norm.weight"])
        theirs.norm.bias.copy_(src["norm.bias"])
        for i, layer in enumerate(theirs.blocks.layers):
            for name, param in layer.named_parameters():
                param.copy_(src[f"blocks.{i}.{name}"])


def gpt_step(threads: int, quick: bool, precision: str = "fp32") -> tuple[Line, float, float]:
    """Our GPT's training step / the PyTorch-layers one; FLOPs per step and our FLOP/s."""
    b, t = (8, 128) if quick else (16, 256)
    config = GPTConfig(vocab_size=4096, context_size=t, embed_dim=192, num_heads=6,
                       num_layers=6, dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    ours = GPT(config)
    theirs = TorchGPT(config)
    _copy_gpt_into_torch(ours, theirs)
    ids = torch.randint(config.vocab_size, (b, t + 1), generator=torch.Generator().manual_seed(1))
    x, y = ids[:, :-1], ids[:, 1:]
    with torch.no_grad():
        a = F.cross_entropy(ours(x).flatten(0, 1), y.flatten())
        c = F.cross_entropy(theirs(x).flatten(0, 1), y.flatten())
    if abs(a.item() - c.item()) > 1e-4:
        raise AssertionError(f"the two GPTs disagree before timing: loss {a:.6f} vs {c:.6f}")
    cast = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        if precision == "bf16"
        else (lambda: torch.autocast("cpu", enabled=False))
    )

    def stepper(model: nn.Module):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=False)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with cast():
                logits = model(x)
            F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).backward()
            opt.step()

        return step

    mine, ref = stepper(ours), stepper(theirs)
    with FlopCounterMode(display=False) as counter:
        mine()
    flops = counter.get_total_flops()
    timing = paired_calls(mine, ref, warmup=1, repeats=3)
    name = f"GPT training step ({precision}) / PyTorch-layers GPT, B{b} T{t}"
    note = f"{sum(p.numel() for p in ours.parameters()) / 1e6:.1f}M parameters"
    line = Line(name, threads, timing.ours, timing.theirs, timing.ratio, 1.1, note)
    return line, flops, flops / timing.ours / 1e9


# -- BPE and word2vec (one side is not torch: threads mean different things) --------------------
def bpe(quick: bool) -> list[Line]:
    sys.path.insert(0, str(HERE))
    import bench_bpe

    from coursekit.data import ByteBPETokenizer

    repeats = 1 if quick else 3
    lines_, valid = bench_bpe._texts()
    box: list[ByteBPETokenizer] = []
    train_s = bench_bpe._median_time(
        lambda: box.append(ByteBPETokenizer.train(lines_, vocab_size=512)), repeats
    )
    encode_s = bench_bpe._median_time(lambda: box[-1].encode(valid), repeats, box[-1]._cache.clear)
    out = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ours.json")
        box[-1].save(path)
        for threads in (1, 2):
            env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
            cmd = [sys.executable, str(HERE / "bench_bpe.py"), "--vocab-size", "512",
                   "--repeats", str(repeats), "--theirs", path]  # fmt: skip
            got = json.loads(
                subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            note = "ours: pure Python, 1 thread"
            out.append(Line("BPE training (vocab 512) / tokenizers", threads, train_s,
                            got["train_s"], train_s / got["train_s"], None, note))  # fmt: skip
            out.append(Line("BPE encoding / tokenizers", threads, encode_s, got["encode_s"],
                            encode_s / got["encode_s"], None, note))  # fmt: skip
    return out


def word2vec(quick: bool) -> list[Line]:
    from coursekit.data import load_text, word_split
    from coursekit.embeddings import Vocabulary, Word2VecConfig, train_word2vec
    from coursekit.embeddings.evaluate import gensim_available

    if not gensim_available():
        print("word2vec: gensim is not installed (pip install gensim): no reference")
        return []
    from gensim.models import Word2Vec

    epochs = 1 if quick else 3
    text = load_text("shakespeare_tiny", "train").split("\n")
    sentences = [[w for w in word_split(t, lowercase=True) if w[0].isalpha()] for t in text]
    sentences = [s for s in sentences if s]
    vocab = Vocabulary.from_tokens((w for s in sentences for w in s), min_freq=5)
    start = time.perf_counter()
    train_word2vec(vocab.encode(sentences), vocab.counts, Word2VecConfig(dim=50, epochs=epochs))
    ours = time.perf_counter() - start
    out = []
    for workers in (1, 2):
        start = time.perf_counter()
        Word2Vec(sentences, vector_size=50, window=5, min_count=5, sg=1, negative=5,
                 sample=1e-3, epochs=epochs, workers=workers, seed=0)  # fmt: skip
        theirs = time.perf_counter() - start
        out.append(Line(f"word2vec skip-gram, {epochs} epoch(s) / gensim", workers, ours, theirs,
                        ours / theirs, None, "ours: its own thread setting"))  # fmt: skip
    return out


# -- the run -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    started = time.perf_counter()
    bf16_hw = cpu_bf16_support()
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores; torch {torch.__version__}; "
          f"bf16 hardware: {bf16_hw or 'none'}{'; --quick' if args.quick else ''}")  # fmt: skip
    lines: list[Line] = []
    peaks: dict[int, dict[str, float]] = {}
    before = torch.get_num_threads()
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n== {threads} thread(s)", flush=True)
        peaks[threads] = peak = roofline(threads, args.quick)
        print(f"roofline: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s "
              f"(bf16 / fp32 = {peak['bf16'] / peak['fp32']:.2f}x)", flush=True)  # fmt: skip
        if "recurrent" in args.only:
            lines += recurrent(threads, args.quick)
        if "attention" in args.only:
            lines += attention(threads, args.quick)
        if "gpt" in args.only:
            precisions = ["fp32", "bf16"] if bf16_hw else ["fp32"]
            for precision in precisions:
                line, flops, achieved = gpt_step(threads, args.quick, precision)
                roof = peak[precision]
                line.note += (
                    f"; {flops / 1e9:.1f} GFLOP per step, {achieved:.0f} GFLOP/s = "
                    f"{achieved / roof:.0%} of the {precision} roofline"
                )
                lines.append(line)
                print(f"{line.name}: {line.note}", flush=True)
            if not bf16_hw:
                print("GPT step in bf16: skipped, no bf16 hardware (the roofline above shows why)")
    torch.set_num_threads(before)
    if "bpe" in args.only:
        lines += bpe(args.quick)
    if "word2vec" in args.only:
        lines += word2vec(args.quick)

    print(f"\n{'comparison':62s} {'thr':>3s} {'ours ms':>9s} {'ref ms':>9s} {'ratio':>6s}"
          f" {'target':>7s}  verdict")  # fmt: skip
    for line in lines:
        target = "-" if line.target is None else f"<={line.target:g}"
        print(f"{line.name:62s} {line.threads!s:>3s} {1e3 * line.ours_s:9.2f} "
              f"{1e3 * line.theirs_s:9.2f} {line.ratio:6.2f} {target:>7s}  {line.verdict}"
              + (f"  ({line.note})" if line.note else ""))  # fmt: skip
    missed = [line for line in lines if line.verdict == "MISSED"]
    held = sum(line.verdict == "holds" for line in lines)
    print(f"\n{held} target(s) hold, {len(missed)} missed"
          + (": " + "; ".join(f"{m.name} at {m.threads}" for m in missed) if missed else "")
          + f"; {time.perf_counter() - started:.0f} s in all. ratio = ours / reference "
          "(median of paired rounds); ms = best round.")  # fmt: skip
    if missed and args.quick:
        print("(--quick times few, small rounds: a miss by a few percent can be noise; confirm it "
              "with the full `make bench` before acting on it)")  # fmt: skip
    if len(peaks) > 1:
        scale = statistics.median(p["fp32"] for p in peaks.values())
        print(f"(fp32 roofline median {scale:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
