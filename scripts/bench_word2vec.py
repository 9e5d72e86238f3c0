"""Benchmark: our batched skip-gram (coursekit.embeddings) against gensim's Word2Vec, same corpus.

Chapter 01 quotes the ratio. Both train skip-gram with negative sampling on the same sentences with
the same settings, one after the other in this process; the script also times one SGNS step on one
and on two intra-op threads (why the training loop runs on one: coursekit.embeddings._threads).
Not a test: it prints.

    .venv/bin/python scripts/bench_word2vec.py                       # Shakespeare (tiny), 3 epochs
    .venv/bin/python scripts/bench_word2vec.py --corpus shakespeare_complete --epochs 1
"""

from __future__ import annotations

import argparse
import time

import torch

from coursekit.data import load_text, word_split
from coursekit.embeddings import SkipGram, Vocabulary, Word2VecConfig, sgns_sgd_step, train_word2vec
from coursekit.embeddings.evaluate import gensim_available


def step_ms(threads: int, vocab_size: int, dim: int, repeats: int = 200) -> float:
    """Milliseconds per SGNS step on a batch of 1,024 pairs with ``threads`` intra-op threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = SkipGram(vocab_size, dim)
        g = torch.Generator().manual_seed(0)
        c, o = (torch.randint(0, vocab_size, (1024,), generator=g) for _ in range(2))
        n = torch.randint(0, vocab_size, (1024, 5), generator=g)
        for _ in range(10):
            sgns_sgd_step(model, c, o, n, 0.01)
        start = time.perf_counter()
        for _ in range(repeats):
            sgns_sgd_step(model, c, o, n, 0.01)
        return (time.perf_counter() - start) / repeats * 1000
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="shakespeare_tiny")
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    lines = (word_split(t, lowercase=True) for t in load_text(args.corpus, "train").split("\n"))
    sentences = [[w for w in ws if w[0].isalpha()] for ws in lines]
    sentences = [s for s in sentences if s]
    vocab = Vocabulary.from_tokens((w for s in sentences for w in s), min_freq=5)
    ids = vocab.encode(sentences)
    print(f"{args.corpus}: {sum(map(len, sentences)):,} tokens, V = {len(vocab):,}, dim {args.dim}")

    config = Word2VecConfig(dim=args.dim, epochs=args.epochs)
    start = time.perf_counter()
    train_word2vec(ids, vocab.counts, config)
    ours = time.perf_counter() - start
    print(f"coursekit word2vec: {ours:.1f} s for {args.epochs} epochs")
    if gensim_available():
        from gensim.models import Word2Vec

        for workers in (1, 2):
            start = time.perf_counter()
            Word2Vec(
                sentences,
                vector_size=args.dim,
                window=5,
                min_count=5,
                sg=1,
                negative=5,
                sample=1e-3,
                epochs=args.epochs,
                workers=workers,
                seed=0,
            )
            theirs = time.perf_counter() - start
            print(
                f"gensim Word2Vec, {workers} worker(s): {theirs:.1f} s -> ours / gensim = "
                f"{ours / theirs:.1f}x"
            )
    else:
        print("gensim is not installed: no reference timing")
    one, two = step_ms(1, len(vocab), args.dim), step_ms(2, len(vocab), args.dim)
    print(
        f"one SGNS step (1,024 pairs): {one:.2f} ms on 1 thread, {two:.2f} ms on 2 threads "
        f"(2 / 1 = {two / one:.1f}x)"
    )


if __name__ == "__main__":
    main()
