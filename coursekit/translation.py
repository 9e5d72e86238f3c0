"""The sequence-to-sequence task of chapters 06 and 07: bundled verse pairs (King James → World
English Bible by default) cut to short verses, one shared word vocabulary, length-bucketed
training batches, the two baselines every model must beat, and scoring with sacrebleu.

>>> task = load_translation_task(max_tokens=12)
>>> len(task.train) > 500, task.tokenizer.itos[:4]
(True, ['<pad>', '<unk>', '<bos>', '<eos>'])
>>> copy_baseline(["Thou art he ."])
['Thou art he.']

Baselines:

- :func:`copy_baseline` returns the source unchanged: for archaic → modern English, most words
  are already right.
- :class:`SubstitutionBaseline` learns a word-for-word table from the training pairs: each pair
  is aligned with :class:`difflib.SequenceMatcher`; a source word is replaced by the target word it
  is most often aligned to (or dropped) where that happens more often than the word is kept.
"""

from __future__ import annotations

import difflib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import torch
from torch import nn

from coursekit.data.batching import Seq2SeqBatch, Seq2SeqCollate, encode_pairs, pad_batch
from coursekit.data.corpora import load_pairs
from coursekit.data.tokenizers import UNK, WordTokenizer, word_split
from coursekit.metrics import bleu, chrf
from coursekit.nn import RNNSeq2Seq, RNNSeq2SeqConfig, Seq2SeqTransformer, Seq2SeqTransformerConfig
from coursekit.report import cpu_model, read_measured
from coursekit.seq2seq import BOS_ID, EOS_ID, beam_search, greedy_decode, trim

__all__ = [
    "LEARNING_RATES",
    "SubstitutionBaseline",
    "TranslationTask",
    "copy_baseline",
    "detokenize",
    "load_translation_task",
    "make_translation_model",
    "measured_budgets",
    "measured_lr_grid",
    "measurement_header",
    "score",
    "translate",
]

#: The models chapters 06 and 07 train on this task (and ``scripts/bench_translation.py`` trains
#: for longer), with the learning rate each got: the best on the validation split after 230 steps of
#: a grid that has it inside (``measured_lr_grid``). Chapter 06's attention RNN, its copying variant
#: (See et al. 2017) and chapter 07's Transformer.
LEARNING_RATES = {"attention RNN": 2.4e-2, "pointer-generator": 1.2e-2, "Transformer": 2e-3}
MEASURED_FILE = Path(__file__).resolve().parent / "translation_measured.json"
LR_GRID_FILE = Path(__file__).resolve().parent / "translation_lr_grid.json"
_NO_SPACE_BEFORE = re.compile(r" ([,.;:?!’”)\]])")
_NO_SPACE_AFTER = re.compile(r"([“(\[‘]) ")


def detokenize(text: str) -> str:
    """Undo the spaces a word tokenizer's ``decode`` puts around punctuation, so sacrebleu sees
    ordinary text (it tokenizes again itself).

    >>> detokenize("He said , “ Go . ”")
    'He said, “Go.”'
    """
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


@dataclass(frozen=True)
class TranslationTask:
    """Verse pairs split by whole chapter (see ``data/README.md``), cut to ``max_tokens`` word
    tokens on both sides, and the shared vocabulary trained on the training pairs.

    Attributes:
        name: the pair corpus (``coursekit.data.load_pairs``'s name).
        max_tokens: the longest verse kept, in word tokens, on either side.
        train, valid, test: ``(source, target)`` text pairs.
        tokenizer: one :class:`~coursekit.data.tokenizers.WordTokenizer` for both sides.
    """

    name: str
    max_tokens: int
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]
    tokenizer: WordTokenizer

    def pairs(self, split: str) -> list[tuple[str, str]]:
        """The text pairs of ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}.")
        return getattr(self, split)

    def encoded(self, split: str) -> list[tuple[list[int], list[int]]]:
        """``(source ids, target ids)`` of every pair in ``split`` (without ``<bos>``/``<eos>``)."""
        return encode_pairs(self.pairs(split), self.tokenizer)

    def batches(self, split: str = "train", batch_size: int = 64, seed: int = 0) -> _Bucketed:
        """Length-bucketed batches: ``f(i) -> Seq2SeqBatch`` for :func:`coursekit.train.train`.

        Pairs are sorted by source length and cut into batches, so a batch holds little padding
        (and a recurrent encoder does few wasted steps); every epoch visits all batches in an
        order drawn from ``seed`` and the epoch number, so batch ``i`` is the same on a resume.
        ``len()`` is the number of batches in one epoch.
        """
        return _Bucketed(self.encoded(split), batch_size, seed)

    def loader(self, split: str, batch_size: int = 128) -> list[Seq2SeqBatch]:
        """Every pair of ``split`` once, in length-bucketed batches (for evaluation)."""
        buckets = _Bucketed(self.encoded(split), batch_size, seed=0)
        return [buckets.batch(j) for j in range(len(buckets))]


class _Bucketed:
    def __init__(self, data: list, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        order = sorted(range(len(data)), key=lambda k: (len(data[k][0]), len(data[k][1]), k))
        self.groups = [
            [data[k] for k in order[i : i + batch_size]] for i in range(0, len(order), batch_size)
        ]
        self.seed, self.collate = seed, Seq2SeqCollate()

    def __len__(self) -> int:
        return len(self.groups)

    def batch(self, j: int) -> Seq2SeqBatch:
        return self.collate(self.groups[j])

    def __call__(self, i: int) -> Seq2SeqBatch:
        epoch, j = divmod(i, len(self.groups))
        order = list(range(len(self.groups)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return self.batch(order[j])


def load_translation_task(
    name: str = "bible_kjv_web", max_tokens: int = 20, min_freq: int = 2
) -> TranslationTask:
    """The pairs of ``name`` whose both sides have at most ``max_tokens`` word tokens, with a
    shared vocabulary of the words seen ``min_freq`` times in the training pairs.

    Args:
        name: a pair corpus of :func:`coursekit.data.load_pairs` (``"bible_kjv_web"``,
            ``"bible_web_kjv"``, ``"bible_web_spa"``, ...).
        max_tokens: the longest verse kept (word tokens, punctuation included).
        min_freq: rarer words encode as ``<unk>``.
    """
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}.")

    def short(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            (s, t)
            for s, t in pairs
            if len(word_split(s)) <= max_tokens and len(word_split(t)) <= max_tokens
        ]

    train, valid, test = (short(load_pairs(name, split)) for split in ("train", "valid", "test"))
    tokenizer = WordTokenizer.train([text for pair in train for text in pair], min_freq=min_freq)
    return TranslationTask(name, max_tokens, train, valid, test, tokenizer)


def make_translation_model(name: str, vocab_size: int, seed: int = 0) -> nn.Module:
    """One of :data:`LEARNING_RATES`' models, seeded: the GRU encoder-decoder with additive
    attention of chapter 06 (embedding 64, width 256; ``"pointer-generator"`` adds copying), or
    chapter 07's Transformer (width 128, 2 + 2 post-norm layers, 4 heads, feed-forward 512). Both
    share one embedding matrix between source, target and output, and use no dropout.

    >>> sum(p.numel() for p in make_translation_model("Transformer", 100).parameters())
    938596
    """
    if name not in LEARNING_RATES:
        raise ValueError(f"unknown model {name!r}: choose one of {sorted(LEARNING_RATES)}.")
    torch.manual_seed(seed)
    if name == "Transformer":
        config = Seq2SeqTransformerConfig(
            vocab_size, vocab_size, embed_dim=128, num_heads=4, num_encoder_layers=2,
            num_decoder_layers=2, ff_dim=512, dropout=0.0, max_len=64, share_embeddings=True,
        )  # fmt: skip
        return Seq2SeqTransformer(config)
    copy = name == "pointer-generator"
    return RNNSeq2Seq(RNNSeq2SeqConfig(vocab_size, embed_dim=64, hidden_size=256, copy=copy))


def copy_baseline(sources: Iterable[str]) -> list[str]:
    """The source verses unchanged (tokenized and joined as the models' outputs are)."""
    return [detokenize(" ".join(word_split(s))) for s in sources]


class SubstitutionBaseline:
    """A word-for-word substitution table learned from aligned training pairs.

    Args:
        pairs: ``(source, target)`` training pairs.

    Attributes:
        table: source word -> target word (``""`` for a word that is usually dropped).

    >>> base = SubstitutionBaseline([("thou art", "you are")] * 2 + [("art thou", "are you")])
    >>> base.table["thou"], base.translate(["thou art here"])
    ('you', ['you are here'])
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        replaced: defaultdict[str, Counter[str]] = defaultdict(Counter)
        kept: Counter[str] = Counter()
        for source, target in pairs:
            a, b = word_split(source), word_split(target)
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, False).get_opcodes():
                if op == "equal":
                    kept.update(a[i1:i2])
                elif op == "replace" and i2 - i1 == j2 - j1:
                    for x, y in zip(a[i1:i2], b[j1:j2], strict=True):
                        replaced[x][y] += 1
                elif op == "delete":
                    for x in a[i1:i2]:
                        replaced[x][""] += 1
        self.table: dict[str, str] = {}
        for word, counts in replaced.items():
            best, n = counts.most_common(1)[0]
            if n > kept[word]:
                self.table[word] = best

    def translate(self, sources: Iterable[str]) -> list[str]:
        """Each source verse with every word in the table replaced (or dropped)."""
        out = []
        for source in sources:
            words = (self.table.get(w, w) for w in word_split(source))
            out.append(detokenize(" ".join(w for w in words if w)))
        return out


def score(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``{"BLEU": ..., "chrF": ...}`` through sacrebleu (:mod:`coursekit.metrics`)."""
    return {
        "BLEU": float(bleu(hypotheses, references)),
        "chrF": float(chrf(hypotheses, references)),
    }


def _replace_unknown(ids: list[int], source_words: list[str], weights, tokenizer) -> str:
    words = []
    for t, token in enumerate(ids):
        word = tokenizer.itos[token]
        if word == UNK and weights is not None and source_words:
            word = source_words[int(weights[t, : len(source_words)].argmax())]
        words.append(word)
    return detokenize(" ".join(words))


@torch.no_grad()
def translate(
    model: nn.Module,
    task: TranslationTask,
    sources: Sequence[str],
    *,
    beam_size: int = 1,
    max_len: int | None = None,
    batch_size: int = 128,
    replace_unknown: bool = True,
) -> list[str]:
    """Decode ``sources`` with any model of :mod:`coursekit.seq2seq`'s protocol.

    Args:
        model: an encoder-decoder (chapter 06's :class:`~coursekit.nn.recurrent.RNNSeq2Seq`,
            chapter 07's :class:`~coursekit.nn.transformer.Seq2SeqTransformer`).
        task: gives the tokenizer.
        sources: source verses.
        beam_size: 1 for greedy decoding, more for beam search.
        max_len: the most tokens to generate (default ``task.max_tokens + 5``).
        batch_size: verses decoded at once.
        replace_unknown: where the output is ``<unk>``, put the source word the model attends
            to most (Luong et al. 2015); only for models with ``attention_weights``.
    """
    tok = task.tokenizer
    max_len = task.max_tokens + 5 if max_len is None else max_len
    device = next(model.parameters()).device
    use_weights = replace_unknown and callable(getattr(model, "attention_weights", None))
    out: list[str] = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        batch = Seq2SeqCollate()([(tok.encode(s), []) for s in chunk]).to(device)
        if beam_size == 1:
            ids = greedy_decode(model, batch.src, batch.src_mask, max_len=max_len)
        else:
            ids = beam_search(
                model, batch.src, batch.src_mask, beam_size=beam_size, max_len=max_len
            )
        rows = trim(ids)
        weights = None
        if use_weights and getattr(model, "attention", True) is not None:
            tgt_in, _ = _with_bos(rows, device)
            weights = model.attention_weights(batch.src, tgt_in, batch.src_mask)  # (B, T, S)
        for k, (row, source) in enumerate(zip(rows, chunk, strict=True)):
            row = [t for t in row if t != EOS_ID]
            w = None if weights is None else weights[k]
            out.append(_replace_unknown(row, word_split(source), w, tok))
    return out


def _with_bos(rows: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask = pad_batch([[BOS_ID, *row] for row in rows])
    return ids.to(device), mask.to(device)


def measured_budgets() -> dict:
    """What ``scripts/bench_translation.py`` measured on this task at budgets longer than a
    chapter can run: ``{"baselines": {split: {name: scores}}, "runs": [{"model", "steps",
    "valid", "test", ...}], "machine": {...}}``. Rerun the script to measure them again.

    >>> runs = measured_budgets()["runs"]
    >>> {"Transformer", "attention RNN"} <= {r["model"] for r in runs}
    True
    """
    return _load_measured(MEASURED_FILE, "bench_translation.py", "runs")


def measured_lr_grid() -> dict:
    """The learning-rate grid that chose chapter 06's rate, as ``scripts/tune_translation_lr.py``
    measured it: ``{"runs": [{"model", "lr", "valid_loss", ...}], "machine": {...}, ...}``."""
    return _load_measured(LR_GRID_FILE, "tune_translation_lr.py", "runs")


def measurement_header(task: TranslationTask, threads: int) -> dict:
    """What the measurement scripts store beside their numbers: the task and the machine."""
    return {
        "task": {"name": task.name, "max_tokens": task.max_tokens, "train_pairs": len(task.train)},
        "machine": {
            "cpu": cpu_model(),
            "threads": threads,
            "torch": torch.__version__,
            "date": date.today().isoformat(),
        },
    }


def _load_measured(path: Path, script: str, key: str) -> dict:
    data = read_measured(path, f"python scripts/{script} --out coursekit/{path.name}")
    if not isinstance(data.get(key), list):
        raise RuntimeError(
            f"{path.name} has no list of {key}: measure again with scripts/{script}."
        )
    return data
