"""Benchmark: coursekit's byte-level BPE against Hugging Face ``tokenizers`` (Rust), chapter 08.

Training: ``ByteBPETokenizer.train`` against ``tokenizers``' ``BpeTrainer`` with a ByteLevel
pre-tokenizer, the same vocabulary size (256 bytes + merges + ``<|endoftext|>``) on the same text
(shakespeare_tiny's train split, given to both as its lines). Encoding: the valid split as one
string, each side cold (our chunk cache emptied; a fresh ``tokenizers`` object built from the
same vocabulary and merges). Each time is the median of ``--repeats`` runs.

Ours is pure Python on one thread. ``tokenizers`` runs in a child process twice: with
``RAYON_NUM_THREADS=1`` (one thread) and with its default thread pool (every core). Not a test: it
prints the times and the ratios ours / theirs.

    .venv/bin/python scripts/bench_bpe.py                 # vocab 512, 3 repeats
    .venv/bin/python scripts/bench_bpe.py --vocab-size 1024 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from coursekit.data import ENDOFTEXT, ByteBPETokenizer, load_text


def _median_time(fn: Callable[[], object], repeats: int, setup: Callable[[], object] = list):
    times = []
    for _ in range(repeats):
        setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _texts() -> tuple[list[str], str]:
    return load_text("shakespeare_tiny", "train").splitlines(keepends=True), load_text(
        "shakespeare_tiny", "valid"
    )


def theirs(vocab_size: int, repeats: int, ours_file: str) -> dict[str, float]:
    """Time ``tokenizers`` (runs in the child process, under the thread setting it was given)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    lines, valid = _texts()

    def fresh(model: models.Model) -> Tokenizer:
        tok = Tokenizer(model)
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        return tok

    def train() -> Tokenizer:
        tok = fresh(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[ENDOFTEXT],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(lines, trainer=trainer)
        return tok

    train_s = _median_time(train, repeats)
    assert train().get_vocab_size() == vocab_size
    ours = ByteBPETokenizer.load(ours_file)  # encode with our vocabulary: the same ids
    encoder, merges = ours.to_gpt2_files()
    holder: list[Tokenizer] = []

    def setup() -> None:
        holder[:] = [fresh(models.BPE(vocab=encoder, merges=merges))]
        holder[0].add_special_tokens([AddedToken(ENDOFTEXT, special=True, normalized=False)])

    encode_s = _median_time(lambda: holder[0].encode(valid), repeats, setup)
    setup()
    assert holder[0].encode(valid).ids == ours.encode(valid), "the two encodings differ"
    return {"train_s": train_s, "encode_s": encode_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--theirs", metavar="OURS_JSON", help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.theirs:
        print(json.dumps(theirs(args.vocab_size, args.repeats, args.theirs)))
        return

    lines, valid = _texts()
    print(
        f"text: shakespeare_tiny train, {sum(map(len, lines)):,} characters in {len(lines):,} lines"
    )
    print(
        f"encode: shakespeare_tiny valid, {len(valid):,} characters; vocab_size={args.vocab_size}"
    )
    box: list[ByteBPETokenizer] = []
    train_s = _median_time(
        lambda: box.append(ByteBPETokenizer.train(lines, vocab_size=args.vocab_size)), args.repeats
    )
    ours = box[-1]
    encode_s = _median_time(lambda: ours.encode(valid), args.repeats, ours._cache.clear)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench_bpe_{os.getpid()}.json")
    ours.save(path)
    rows = [("ours (pure Python, 1 thread)", train_s, encode_s, None)]
    cores = os.cpu_count()
    for label, threads in (("1 thread", "1"), (f"default pool, {cores} cores", None)):
        env = {k: v for k, v in os.environ.items() if k != "RAYON_NUM_THREADS"}
        if threads:
            env["RAYON_NUM_THREADS"] = threads
        env.pop("TOKENIZERS_PARALLELISM", None)
        cmd = [sys.executable, __file__, "--vocab-size", str(args.vocab_size)]
        cmd += ["--repeats", str(args.repeats), "--theirs", path]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        got = json.loads(out.strip().splitlines()[-1])
        rows.append((f"tokenizers ({label})", got["train_s"], got["encode_s"], threads))
    os.remove(path)
    print(f"\n{'':36s} {'train':>9s} {'encode':>9s} {'train ratio':>12s} {'encode ratio':>13s}")
    for name, t, e, _ in rows:
        ratio = "" if t is train_s else f"{train_s / t:10.1f}x {encode_s / e:12.1f}x"
        print(f"{name:36s} {t:8.3f}s {e:8.3f}s {ratio}")
    print(
        "\nratio = ours / theirs (how many times slower ours is); medians of", args.repeats, "runs"
    )


if __name__ == "__main__":
    main()
