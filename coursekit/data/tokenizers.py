"""Tokenizers: text ↔ integer ids, one protocol for all (chapters 01-09; BPE comes in chapter 08).

Every tokenizer is a :class:`Tokenizer` (the shape of Karpathy's minbpe) and registers itself, so
chapter 08's byte-level BPE and GPT-2's tokenizer slot in beside the two defined here::

    tok = CharTokenizer.train(text_or_texts, min_freq=1)   # every tokenizer: cls.train(...)
    tok.encode(text, add_bos=False, add_eos=False) -> list[int]
    tok.decode(ids) -> str
    tok.vocab_size == len(tok)
    tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id     # None where the tokenizer has no such token
    tok.special_tokens                                 # name -> id, e.g. {"<|endoftext|>": 50256}
    tok.save(path); load_tokenizer(path)               # JSON with a "type" looked up in TOKENIZERS

The base class assumes nothing about the vocabulary (a BPE maps ids to bytes) or where special
tokens sit. The character and word tokenizers here keep a list of strings with four specials first::

    <pad> = 0   padding (ignored by losses and masks)
    <unk> = 1   anything not in the vocabulary
    <bos> = 2   begin of sequence
    <eos> = 3   end of sequence

Unknown input never raises: it becomes ``<unk>``. Decoding writes ``<unk>`` back as
``unk_text`` (U+FFFD ``�`` for characters, ``"<unk>"`` for words) and drops ``<pad>``, ``<bos>``
and ``<eos>`` unless ``keep_special=True``. Chinese needs no special case in
:class:`CharTokenizer`: every Unicode code point is one token.

Why the package has three vocabularies. The tokenizers here map text to the ids a neural model
reads. Two counted vocabularies stay separate because folding them into :class:`WordTokenizer`
would change their results:

* :class:`coursekit.embeddings.Vocabulary` (chapter 01) has no special tokens, drops unknown
  words instead of writing ``<unk>`` (as word2vec does, so windows close over them), keeps each
  word's count (subsampling, the negative-sampling table) and breaks frequency ties by first
  appearance; four extra ids and alphabetical ties would change every vector of chapter 01.
* :class:`coursekit.ngram.NGramLM`'s ``words`` (chapter 02) hold only the outcomes a model
  predicts: the words, ``<eos>`` and ``<unk>``. Its size ``V`` is in add-k's denominator and
  Kneser–Ney's uniform floor, so a ``<pad>`` or ``<bos>`` entry would change every perplexity.

All three spell the special tokens the same way (:data:`BOS`, :data:`EOS`, :data:`UNK`) and take
the same frequency cut-off, ``min_freq``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "TOKENIZERS",
    "UNK",
    "CharTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "load_tokenizer",
    "register_tokenizer",
    "word_split",
]

T = TypeVar("T", bound=type)
Tok = TypeVar("Tok", bound="Tokenizer")

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)

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


TOKENIZERS: dict[str, type[Tokenizer]] = {}
"""Every tokenizer class :func:`load_tokenizer` can rebuild, by the ``"type"`` saved in its file."""


def register_tokenizer(cls: type[T]) -> type[T]:
    """Class decorator: let :func:`load_tokenizer` rebuild ``cls`` from files it saved.

    The key is the class name, written as ``"type"`` by :meth:`Tokenizer.save`. Registering the
    same class again (a re-run notebook cell) is allowed; another class under a taken name is not.
    """
    known = TOKENIZERS.get(cls.__name__)
    where = f"{cls.__module__}.{cls.__qualname__}"
    if known is not None and f"{known.__module__}.{known.__qualname__}" != where:
        raise ValueError(
            f"A tokenizer type {cls.__name__!r} is already registered "
            f"({known.__module__}.{known.__qualname__}); give {where} another class name."
        )
    TOKENIZERS[cls.__name__] = cls
    return cls


def _texts(text_or_texts: str | Iterable[str]) -> Iterator[str]:
    """The texts of a ``train`` argument: one str, or an iterable of str (checked item by item)."""
    if isinstance(text_or_texts, str):
        yield text_or_texts
        return
    if not isinstance(text_or_texts, Iterable) or isinstance(text_or_texts, (bytes, bytearray)):
        raise TypeError(
            f"train() takes a str or an iterable of str, got {type(text_or_texts).__name__}."
        )
    for number, text in enumerate(text_or_texts):
        if not isinstance(text, str):
            raise TypeError(
                f"train() takes a str or an iterable of str; item {number} is "
                f"{type(text).__name__}. Decode bytes first (text.decode('utf-8'))."
            )
        yield text


def _check_min_freq(min_freq: int) -> None:
    if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
        raise ValueError(f"min_freq must be at least 1 (an int), got {min_freq!r}.")


class Tokenizer:
    """The protocol every coursekit tokenizer follows (character, word, BPE, GPT-2's).

    A subclass implements :meth:`train`, :meth:`_encode`, :meth:`decode`, :attr:`vocab_size`,
    :meth:`get_config` and :meth:`from_config`, sets ``special_tokens`` (name → id) and whichever of
    ``pad_id``, ``unk_id``, ``bos_id``, ``eos_id`` it has, and is decorated with
    :func:`register_tokenizer`. Everything else (``len``, ``add_bos``/``add_eos``, JSON files with
    a format version) comes from here.
    """

    format_version = 1  # what save() writes; from_config reads every version up to this one
    pad_id: int | None = None
    unk_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    special_tokens: dict[str, int]

    @classmethod
    def train(cls, text_or_texts: str | Iterable[str], *, min_freq: int = 1, **options: Any):
        """Build a tokenizer from one text or an iterable of texts."""
        raise NotImplementedError(f"{cls.__name__} does not implement train().")

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""
        raise NotImplementedError(f"{type(self).__name__} does not implement vocab_size.")

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def _encode(self, text: str) -> list[int]:
        """The ids of ``text`` alone (no ``<bos>``/``<eos>`` added)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _encode().")

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Text → ids.

        Args:
            text: the text to encode.
            add_bos: put ``bos_id`` in front (an error for a tokenizer without one).
            add_eos: put ``eos_id`` at the end (likewise).
        """
        ids = self._encode(text)
        if add_bos:
            ids = [self._special_id("bos_id", BOS), *ids]
        if add_eos:
            ids = [*ids, self._special_id("eos_id", EOS)]
        return ids

    def _special_id(self, attribute: str, name: str) -> int:
        value = getattr(self, attribute)
        if value is None:
            flag = "add_bos" if attribute == "bos_id" else "add_eos"
            raise ValueError(
                f"{type(self).__name__} has no {name} token ({attribute} is None; its special "
                f"tokens: {self.special_tokens}). Encode without {flag}=True."
            )
        return value

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → text."""
        raise NotImplementedError(f"{type(self).__name__} does not implement decode().")

    def get_config(self) -> dict[str, Any]:
        """JSON-ready fields that rebuild this tokenizer with :meth:`from_config`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from a saved file's fields (``config["format"]`` is its version)."""
        raise NotImplementedError(f"{cls.__name__} does not implement from_config().")

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON (UTF-8, human-readable; never pickle)."""
        kind = type(self).__name__
        if TOKENIZERS.get(kind) is not type(self):
            raise ValueError(f"{kind} is not registered: decorate it with @register_tokenizer.")
        config = {"type": kind, "format": self.format_version, **self.get_config()}
        text = json.dumps(config, ensure_ascii=False, indent=0)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls: type[Tok], path: str | Path) -> Tok:
        """Read a tokenizer written by :meth:`save`; ``Tokenizer.load`` reads any registered type."""
        tok = load_tokenizer(path)
        if not isinstance(tok, cls):
            raise ValueError(f"{path} holds a {type(tok).__name__}, not a {cls.__name__}.")
        return tok


class _TokenList(Tokenizer):
    """Shared machinery of the character and word tokenizers: a list of string tokens with the
    four specials first, a lookup table, decoding, and the JSON fields."""

    format_version = 2  # 1: type, format, tokens (, lowercase); 2 adds special_tokens
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3
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
        self.special_tokens = {t: i for i, t in enumerate(SPECIALS)}

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[attr-defined]

    def _tokens(self, text: str) -> list[str]:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` before they are looked up."""
        return self._tokens(text)

    def _encode(self, text: str) -> list[int]:
        """Tokens outside the vocabulary become ``<unk>`` (id 1)."""
        get, unk = self.stoi.get, self.unk_id
        return [get(t, unk) for t in self._tokens(text)]

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

    def get_config(self) -> dict[str, Any]:
        return {"special_tokens": self.special_tokens, "tokens": self.itos}

    @classmethod
    def _checked_tokens(cls, config: dict[str, Any]) -> list[str]:
        """The non-special tokens of a saved file, after checking its specials."""
        tokens = config["tokens"]
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"the first tokens must be {SPECIALS}, got {tuple(tokens[:4])}.")
        expected = {t: i for i, t in enumerate(SPECIALS)}
        if config["format"] >= 2 and config.get("special_tokens") != expected:
            raise ValueError(
                f"special_tokens {config.get('special_tokens')} disagree with the tokens "
                f"(expected {expected})."
            )
        return tokens[len(SPECIALS) :]


@register_tokenizer
class CharTokenizer(_TokenList):
    """One token per Unicode character (chapter 03's character-level language models).

    Args:
        chars: the characters of the vocabulary, in id order after the four specials.

    >>> tok = CharTokenizer.train("hello world")
    >>> tok.vocab_size, tok.encode("hello")
    (12, [7, 6, 8, 8, 9])
    >>> tok.decode(tok.encode("hold!", add_eos=True))
    'hold�'
    >>> CharTokenizer.train(["床前", "明月光"]).encode("明月")
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
    def train(cls, text_or_texts: str | Iterable[str], *, min_freq: int = 1) -> CharTokenizer:
        """Vocabulary of every character seen at least ``min_freq`` times, sorted by code point.

        Args:
            text_or_texts: one text or an iterable of texts.
            min_freq: drop characters seen fewer times (they will encode as ``<unk>``).
        """
        _check_min_freq(min_freq)
        counts: Counter[str] = Counter()
        for text in _texts(text_or_texts):
            counts.update(text)
        return cls(sorted(c for c, n in counts.items() if n >= min_freq))

    def _tokens(self, text: str) -> list[str]:
        return list(text)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CharTokenizer:
        return cls(cls._checked_tokens(config))


@register_tokenizer
class WordTokenizer(_TokenList):
    """Word-level tokenizer with a frequency cut-off (chapters 01, 02, 06, 07, 09).

    Text is split by :func:`word_split`; the vocabulary keeps tokens seen at least ``min_freq``
    times (and at most ``max_size`` of them), most frequent first, ties alphabetical.
    Decoding joins tokens with single spaces, so ``decode(encode(t))`` gives the tokens of ``t``
    back, not its exact spacing.

    Args:
        words: the vocabulary's words, in id order after the four specials.
        lowercase: lowercase text before splitting it.

    >>> tok = WordTokenizer.train(["the cat sat", "the dog sat"], min_freq=2)
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
    def train(
        cls,
        text_or_texts: str | Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = False,
    ) -> WordTokenizer:
        """Build the vocabulary from one text or an iterable of texts.

        Args:
            text_or_texts: the training text(s).
            min_freq: drop words seen fewer times (they will encode as ``<unk>``).
            max_size: keep at most this many words (specials not counted).
            lowercase: lowercase everything first.
        """
        _check_min_freq(min_freq)
        counts: Counter[str] = Counter()
        for text in _texts(text_or_texts):
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

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WordTokenizer:
        return cls(cls._checked_tokens(config), lowercase=bool(config.get("lowercase")))


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer saved with ``save``, of any registered type (see :data:`TOKENIZERS`).

    Raises:
        ValueError: the file is not a tokenizer written by coursekit, its type is not registered,
            or it was written by a newer coursekit (the message says which).
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        kind, version = config["type"], config["format"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a saved coursekit tokenizer ({exc}).") from None
    cls = TOKENIZERS.get(kind)
    if cls is None:
        raise ValueError(
            f"{path}: unknown tokenizer type {kind!r}. Registered: {', '.join(sorted(TOKENIZERS))} "
            "(import the module that defines it; its class needs @register_tokenizer)."
        )
    if not isinstance(version, int) or not 1 <= version <= cls.format_version:
        raise ValueError(
            f"{path}: {kind} file format {version!r}, but this coursekit reads formats 1 to "
            f"{cls.format_version}; a newer coursekit wrote it (upgrade coursekit)."
        )
    try:
        return cls.from_config(config)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a saved {kind} (bad or missing field: {exc}).") from None
