"""Character and word tokenizers: text ↔ integer ids (chapters 01-09; BPE comes in chapter 08).

Both share one contract: ``encode(text) -> list[int]``, ``decode(ids) -> str``, ``vocab_size``
(also ``len``), ``save(path)`` / ``load(path)`` as JSON, and the same four special tokens with
stable ids::

    <pad> = 0   padding (ignored by losses and masks)
    <unk> = 1   anything not in the vocabulary
    <bos> = 2   begin of sequence
    <eos> = 3   end of sequence

Unknown input never raises: it becomes ``<unk>``. Decoding writes ``<unk>`` back as
``unk_text`` (U+FFFD ``�`` for characters, ``"<unk>"`` for words) and drops ``<pad>``, ``<bos>``
and ``<eos>`` unless ``keep_special=True``. Chinese needs no special case in
:class:`CharTokenizer`: every Unicode code point is one token.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "CharTokenizer",
    "WordTokenizer",
    "load_tokenizer",
    "word_split",
]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
_FORMAT = 1

# Words (letters/digits, with inner apostrophes or hyphens), single CJK ideographs, or any other
# single non-space character (punctuation).
_WORD_RE = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]"
    r"|[^\W\u3400-\u4dbf\u4e00-\u9fff]+(?:['’-][^\W\u3400-\u4dbf\u4e00-\u9fff]+)*"
    r"|[^\w\s]"
)


def word_split(text: str, lowercase: bool = False) -> list[str]:
    """Split text into word tokens with one documented regular expression.

    A token is a run of letters/digits (keeping inner apostrophes and hyphens: ``don't``,
    ``well-known``), a single Chinese character, or a single punctuation mark.

    >>> word_split("Thou art more lovely, and more temperate-minded!")
    ['Thou', 'art', 'more', 'lovely', ',', 'and', 'more', 'temperate-minded', '!']
    >>> word_split("I'll go.", lowercase=True)
    ["i'll", 'go', '.']
    >>> word_split("床前明月光，")
    ['床', '前', '明', '月', '光', '，']
    """
    if lowercase:
        text = text.lower()
    return _WORD_RE.findall(text)


class _Vocab:
    """Shared machinery: token list, lookup table, encode/decode of token sequences, JSON."""

    unk_text = "<unk>"
    _joiner = ""

    def __init__(self, tokens: Iterable[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"The vocabulary must start with the special tokens {SPECIALS}.")
        if len(set(tokens)) != len(tokens):
            dupes = sorted(t for t, n in Counter(tokens).items() if n > 1)[:5]
            raise ValueError(f"Duplicate tokens in the vocabulary: {dupes}.")
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._config() == other._config()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def _tokens(self, text: str) -> list[str]:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` before they are looked up."""
        return self._tokens(text)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Text → ids; tokens outside the vocabulary become ``<unk>`` (id 1).

        Args:
            text: the text to encode.
            add_bos: put ``<bos>`` (id 2) in front.
            add_eos: put ``<eos>`` (id 3) at the end.
        """
        get, unk = self.stoi.get, self.unk_id
        ids = [get(t, unk) for t in self._tokens(text)]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids: Iterable[int], keep_special: bool = False) -> str:
        """Ids → text. ``<unk>`` is written as ``unk_text``; other specials are dropped.

        Args:
            ids: a sequence of ints (a 1-D tensor works too).
            keep_special: write ``<pad>``, ``<bos>``, ``<eos>`` instead of dropping them.

        Raises:
            ValueError: an id outside ``0 .. vocab_size - 1``.
        """
        out = []
        n = len(self.itos)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"Token id {i} is outside the vocabulary (0..{n - 1}).")
            if i == self.unk_id:
                out.append(self.itos[i] if keep_special else self.unk_text)
            elif i < len(SPECIALS):
                if keep_special:
                    out.append(self.itos[i])
            else:
                out.append(self.itos[i])
        return self._joiner.join(out)

    def _config(self) -> dict:
        return {"type": type(self).__name__, "format": _FORMAT, "tokens": self.itos}

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON (UTF-8, human-readable; never pickle)."""
        text = json.dumps(self._config(), ensure_ascii=False, indent=0)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path):
        """Read a tokenizer written by :meth:`save`."""
        tok = load_tokenizer(path)
        if not isinstance(tok, cls):
            raise ValueError(f"{path} holds a {type(tok).__name__}, not a {cls.__name__}.")
        return tok


class CharTokenizer(_Vocab):
    """One token per Unicode character (chapter 03's character-level language models).

    Args:
        chars: the characters of the vocabulary, in id order after the four specials.

    >>> tok = CharTokenizer.from_text("hello world")
    >>> tok.vocab_size, tok.encode("hello")
    (12, [7, 6, 8, 8, 9])
    >>> tok.decode(tok.encode("hold!", add_eos=True))
    'hold�'
    >>> CharTokenizer.from_text("床前明月光").encode("明月")
    [7, 8]
    """

    unk_text = "\ufffd"
    _joiner = ""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise ValueError(f"CharTokenizer tokens must be single characters, got {bad[:5]}.")
        super().__init__([*SPECIALS, *chars])

    @classmethod
    def from_text(cls, text: str, min_freq: int = 1) -> CharTokenizer:
        """Vocabulary of every character seen at least ``min_freq`` times, sorted by code point."""
        counts = Counter(text)
        return cls(sorted(c for c, n in counts.items() if n >= min_freq))

    def _tokens(self, text: str) -> list[str]:
        return list(text)


class WordTokenizer(_Vocab):
    """Word-level tokenizer with a frequency cut-off (chapters 01, 02, 06, 07, 09).

    Text is split by :func:`word_split`; the vocabulary keeps tokens seen at least ``min_freq``
    times (and at most ``max_size`` of them), most frequent first, ties alphabetical.
    Decoding joins tokens with single spaces, so ``decode(encode(t))`` gives the tokens of ``t``
    back, not its exact spacing.

    Args:
        words: the vocabulary's words, in id order after the four specials.
        lowercase: lowercase text before splitting it.

    >>> tok = WordTokenizer.from_texts(["the cat sat", "the dog sat"], min_freq=2)
    >>> tok.itos
    ['<pad>', '<unk>', '<bos>', '<eos>', 'sat', 'the']
    >>> tok.encode("the bird sat", add_bos=True)
    [2, 5, 1, 4]
    >>> tok.decode([2, 5, 1, 4])
    'the <unk> sat'
    """

    unk_text = UNK
    _joiner = " "

    def __init__(self, words: Iterable[str], lowercase: bool = False) -> None:
        super().__init__([*SPECIALS, *words])
        self.lowercase = lowercase

    @classmethod
    def from_texts(
        cls,
        texts: str | Iterable[str],
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = False,
    ) -> WordTokenizer:
        """Build the vocabulary from one text or an iterable of texts.

        Args:
            texts: the training text(s).
            min_freq: drop words seen fewer times (they will encode as ``<unk>``).
            max_size: keep at most this many words (specials not counted).
            lowercase: lowercase everything first.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}.")
        if isinstance(texts, str):
            texts = [texts]
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(word_split(text, lowercase))
        for special in SPECIALS:
            counts.pop(special, None)
        words = sorted(
            (w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[:max_size]
        return cls(words, lowercase=lowercase)

    def _tokens(self, text: str) -> list[str]:
        return word_split(text, self.lowercase)

    def _config(self) -> dict:
        return {**super()._config(), "lowercase": self.lowercase}


def load_tokenizer(path: str | Path) -> CharTokenizer | WordTokenizer:
    """Read a tokenizer saved with ``save`` (either kind).

    Raises:
        ValueError: the file is not a tokenizer written by coursekit (the message says why).
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        kind, tokens = config["type"], config["tokens"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a saved coursekit tokenizer ({exc}).") from None
    if config.get("format") != _FORMAT:
        raise ValueError(f"{path}: tokenizer format {config.get('format')!r}, expected {_FORMAT}.")
    specials: Sequence[str] = tokens[: len(SPECIALS)]
    if tuple(specials) != SPECIALS:
        raise ValueError(f"{path}: the first tokens must be {SPECIALS}, got {tuple(specials)}.")
    if kind == "CharTokenizer":
        return CharTokenizer(tokens[len(SPECIALS) :])
    if kind == "WordTokenizer":
        return WordTokenizer(tokens[len(SPECIALS) :], lowercase=bool(config.get("lowercase")))
    raise ValueError(f"{path}: unknown tokenizer type {kind!r}.")
