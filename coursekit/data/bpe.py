"""Byte-level byte-pair encoding (BPE), the tokenizer of GPT-2 (chapter 08).

The algorithm, in the shape of Karpathy's minbpe:

1. Text is UTF-8 bytes, so the first 256 tokens are the 256 byte values and every string can be
   encoded: nothing is ever unknown.
2. Training repeatedly finds the most frequent adjacent pair of tokens and merges it into a new
   token (:func:`get_pair_counts`, :func:`merge`), until the vocabulary has ``vocab_size`` ids.
3. Encoding replays the merges on new text in the order they were learned (lowest rank first).

Two details make it the GPT-2 tokenizer rather than a toy:

* **Pre-tokenization.** A regular expression (:data:`GPT2_PATTERN`) first cuts the text into
  chunks (words with their leading space, numbers, punctuation runs, whitespace); merges never
  cross a chunk boundary, so ``" dog"`` is one token whatever precedes it. Training counts each
  distinct chunk once with its frequency and merges over those chunk types (as Hugging Face's
  ``tokenizers`` does), which makes one megabyte of text a matter of seconds.
* **Special tokens** such as ``<|endoftext|>`` are cut out of the text before anything else and
  get their own ids after the merges; they are never split and never learned from. Where two
  special tokens could match at the same place, the longest wins; the text is scanned left to
  right (leftmost-longest, like ``tokenizers``).

Ties while training (two pairs equally frequent) go to the pair of smaller ids (compared as
``(left, right)``), so training is deterministic. Vocabulary legend: ids ``0..255`` are bytes (in
GPT-2's files, in another order: see :func:`bytes_to_unicode`), then one id per merge, then the
special tokens.

    tok = ByteBPETokenizer.train(text, vocab_size=512)
    tok.encode("Hello world") -> list[int];  tok.decode(ids) -> str
    gpt2 = ByteBPETokenizer.from_gpt2()  # GPT-2's 50,257 ids, from data/gpt2/gpt2_bpe.json.gz
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import regex

from coursekit.data.bundled import REBUILD_COMMAND, DataFileError, read_bundled_text
from coursekit.data.tokenizers import (
    Tokenizer,
    _check_min_freq,
    _texts,
    load_tokenizer,
    register_tokenizer,
)

__all__ = [
    "ENDOFTEXT",
    "GPT2_PATTERN",
    "GPT4_PATTERN",
    "ByteBPETokenizer",
    "bytes_to_unicode",
    "get_pair_counts",
    "gpt2_tokenizer",
    "load_gpt2_bpe",
    "merge",
]

ENDOFTEXT = "<|endoftext|>"

# GPT-2's pre-tokenization (openai/gpt-2, src/encoder.py): contractions, words with an optional
# leading space, numbers, punctuation runs, whitespace (the last space before a word stays with it).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# GPT-4's (tiktoken cl100k_base): case-insensitive contractions, digits in groups of at most 3.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
)
GPT2_DATA = "gpt2_bpe"  # the bundled file (manifest name) with GPT-2's vocabulary and merges

Pair = tuple[int, int]


def get_pair_counts(ids: Sequence[int], counts: Counter[Pair] | None = None) -> Counter[Pair]:
    """How often each adjacent pair occurs in ``ids`` (added to ``counts`` when given).

    >>> get_pair_counts([1, 2, 3, 1, 2])
    Counter({(1, 2): 2, (2, 3): 1, (3, 1): 1})
    """
    counts = Counter() if counts is None else counts
    counts.update(pairwise(ids))
    return counts


def merge(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """One merge step: every occurrence of ``pair`` in ``ids``, left to right, becomes ``new_id``.

    >>> merge([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    >>> merge([5, 5, 5], (5, 5), 6)  # overlapping occurrences: the left one wins
    [6, 5]
    """
    out, i, n = [], 0, len(ids)
    while i < n:
        if i < n - 1 and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character, used to write tokens in its files.

    Printable Latin-1 bytes stand for themselves; the others (space, control bytes) are shifted to
    ``chr(256 + k)``, so a space is written ``Ġ`` and a newline ``Ċ``.

    >>> table = bytes_to_unicode()
    >>> table[ord("a")], table[ord(" ")], table[ord("\\n")], len(set(table.values()))
    ('a', 'Ġ', 'Ċ', 256)
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    table, shift = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shift)
            shift += 1
    return table


def _special_regex(specials: Iterable[str]) -> regex.Pattern | None:
    """Leftmost-longest matcher of the special tokens (longer alternatives are tried first)."""
    names = sorted(specials, key=lambda s: (-len(s), s))
    return regex.compile("|".join(regex.escape(s) for s in names)) if names else None


def _check_text(text: object, where: str) -> None:
    if not isinstance(text, str):
        hint = " Decode bytes first (data.decode('utf-8'))." if isinstance(text, bytes) else ""
        raise TypeError(f"{where} takes a str, got {type(text).__name__}.{hint}")


@register_tokenizer
class ByteBPETokenizer(Tokenizer):
    """Byte-level BPE: GPT-2's tokenizer, trainable on any text (chapter 08).

    Args:
        merges: ``(left, right) -> new_id`` in the order they were learned (their rank).
        special_tokens: name -> id, e.g. ``{"<|endoftext|>": 50256}``; ids after the merges.
        pattern: the pre-tokenization regular expression (``regex`` syntax).
        byte_ids: the id of each byte value (default: byte ``b`` is id ``b``; GPT-2 permutes them).

    The ids must be exactly ``0 .. vocab_size - 1``. ``bos_id`` and ``eos_id`` are both the id
    of ``<|endoftext|>`` when it is a special token (GPT-2 uses it as a document separator).

    >>> tok = ByteBPETokenizer.train("low lower lowest " * 20, vocab_size=260, special_tokens=())
    >>> tok.merges  # "l"+"o" and "o"+"w" tie: the smaller pair (108, 111) goes first
    {(108, 111): 256, (256, 119): 257, (32, 257): 258, (258, 101): 259}
    >>> tok.encode(" lowest"), tok.decode([258, 259])
    ([259, 115, 116], ' low lowe')
    """

    format_version = 1  # 1: pattern, byte_ids, merges [[left, right, new_id], ...], special_tokens
    cache_size = 1 << 16  # encoded chunks remembered (words recur: encoding is much faster)

    def __init__(
        self,
        merges: Mapping[Pair, int] | Iterable[tuple[Pair, int]],
        special_tokens: Mapping[str, int] | None = None,
        pattern: str = GPT2_PATTERN,
        byte_ids: Sequence[int] | None = None,
    ) -> None:
        byte_ids = list(range(256) if byte_ids is None else byte_ids)
        if len(byte_ids) != 256 or len(set(byte_ids)) != 256:
            raise ValueError(f"byte_ids must be 256 distinct ids, got {len(set(byte_ids))}.")
        vocab = {i: bytes([b]) for b, i in enumerate(byte_ids)}
        items = merges.items() if isinstance(merges, Mapping) else merges
        self.merges: dict[Pair, int] = {}
        for rank, ((left, right), new_id) in enumerate(items):
            if left not in vocab or right not in vocab:
                raise ValueError(
                    f"merge {rank} ({left}, {right}) -> {new_id} uses an id not defined by the "
                    "bytes or an earlier merge; merges must come in the order they were learned."
                )
            if new_id in vocab:
                raise ValueError(f"merge {rank} ({left}, {right}) reuses id {new_id}.")
            vocab[new_id] = vocab[left] + vocab[right]
            self.merges[(left, right)] = new_id
        self.special_tokens = dict(special_tokens or {})
        for name, i in self.special_tokens.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"special token names must be non-empty str, got {name!r}.")
            if i in vocab:
                raise ValueError(f"special token {name!r} reuses id {i}.")
            vocab[i] = name.encode("utf-8")
        if set(vocab) != set(range(len(vocab))):
            gaps = sorted(set(range(len(vocab))) - set(vocab))[:5]
            raise ValueError(f"ids must be 0..{len(vocab) - 1} without gaps; missing {gaps}.")
        self.vocab: dict[int, bytes] = dict(sorted(vocab.items()))
        self.byte_ids = byte_ids
        self.pattern = pattern
        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._split = regex.compile(pattern)
        self._special_split = _special_regex(self.special_tokens)
        self._cache: dict[str, list[int]] = {}
        self.bos_id = self.eos_id = self.special_tokens.get(ENDOFTEXT)

    # --- training ------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        text_or_texts: str | Iterable[str],
        *,
        vocab_size: int,
        special_tokens: Sequence[str] = (ENDOFTEXT,),
        pattern: str = GPT2_PATTERN,
        min_freq: int = 1,
    ) -> ByteBPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from one text or many.

        Args:
            text_or_texts: the training text(s); special tokens in them are cut out, not learned.
            vocab_size: ids in the end, the 256 bytes and the special tokens included.
            special_tokens: their names; they get the last ids, in this order.
            pattern: the pre-tokenization regular expression.
            min_freq: stop early (a smaller vocabulary) when the best pair occurs fewer times.

        Training stops early too when no pair is left (every chunk is one token).
        """
        _check_min_freq(min_freq)
        specials = list(special_tokens)
        if isinstance(special_tokens, str) or not all(isinstance(s, str) and s for s in specials):
            raise TypeError(
                f"special_tokens must be a sequence of non-empty str, got {special_tokens!r} "
                f"(e.g. special_tokens=({ENDOFTEXT!r},))."
            )
        if len(set(specials)) != len(specials):
            raise ValueError(f"special_tokens has duplicates: {specials}.")
        least = 256 + len(specials)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < least:
            raise ValueError(
                f"vocab_size={vocab_size!r} is too small: 256 byte tokens + {len(specials)} "
                f"special token(s) need at least {least}; pick e.g. vocab_size={max(512, least)}."
            )
        split, cut = regex.compile(pattern), _special_regex(specials)
        chunks: Counter[str] = Counter()
        for text in _texts(text_or_texts):
            for part in cut.split(text) if cut else [text]:
                chunks.update(split.findall(part))
        merges = _learn_merges(chunks, vocab_size - least, min_freq)
        first = 256 + len(merges)
        return cls(merges, {s: first + k for k, s in enumerate(specials)}, pattern)

    # --- other constructors --------------------------------------------------------------------

    @classmethod
    def from_vocab_merges(
        cls,
        vocab: Mapping[int, bytes] | Mapping[bytes, int],
        merges: Iterable[tuple[bytes, bytes]],
        special_tokens: Mapping[str, int] | None = None,
        pattern: str = GPT2_PATTERN,
    ) -> ByteBPETokenizer:
        """Build a tokenizer from the bytes of its tokens and its merges (in rank order).

        Args:
            vocab: id -> bytes or bytes -> id: all 256 single bytes and every merge's result.
                Entries that are special tokens' ids are skipped.
            merges: ``(left_bytes, right_bytes)``, first learned first.
            special_tokens: name -> id.
            pattern: the pre-tokenization regular expression.

        >>> tok = ByteBPETokenizer.train("aaab " * 9, vocab_size=259, special_tokens=())
        >>> pairs = [(tok.vocab[a], tok.vocab[b]) for a, b in tok.merges]
        >>> pairs  # after "a"+"a", "aa"+"a" and "a"+"b" tie: the smaller ids (97, 98) go first
        [(b'a', b'a'), (b'a', b'b'), (b'aa', b'ab')]
        >>> ByteBPETokenizer.from_vocab_merges(tok.vocab, pairs).merges == tok.merges
        True
        """
        special_tokens = dict(special_tokens or {})
        ids = {k: v for k, v in vocab.items()} if vocab else {}
        if ids and isinstance(next(iter(ids)), (bytes, bytearray)):
            ids = {int(v): bytes(k) for k, v in ids.items()}
        skip = set(special_tokens.values())
        index: dict[bytes, int] = {}
        for i, token in ids.items():
            if i in skip:
                continue
            if token in index:
                raise ValueError(f"ids {index[token]} and {i} are both {token!r} in vocab.")
            index[token] = i

        def id_of(token: bytes, what: str) -> int:
            if token not in index:
                raise ValueError(f"{what} {token!r} is not in vocab ({len(index)} tokens).")
            return index[token]

        byte_ids = [id_of(bytes([b]), "the byte") for b in range(256)]
        pairs = []
        for rank, (left, right) in enumerate(merges):
            where = f"merge {rank}'s"
            pair = (id_of(left, f"{where} left token"), id_of(right, f"{where} right token"))
            pairs.append((pair, id_of(left + right, f"{where} result")))
        made = {*byte_ids, *(new for _, new in pairs)}
        extra = sorted(i for i in index.values() if i not in made)
        if extra:
            raise ValueError(
                f"{len(extra)} token(s) of vocab are neither a byte nor a merge's result, e.g. "
                f"{extra[0]}: {ids[extra[0]]!r}; if they are special tokens, pass special_tokens."
            )
        return cls(pairs, special_tokens, pattern, byte_ids)

    @classmethod
    def from_gpt2_files(
        cls,
        encoder: Mapping[str, int],
        merges: Iterable[tuple[str, str]],
        special_tokens: Sequence[str] = (ENDOFTEXT,),
        pattern: str = GPT2_PATTERN,
    ) -> ByteBPETokenizer:
        """Build from files in GPT-2's format (``encoder.json`` and ``vocab.bpe``; Hugging Face's
        ``vocab.json`` and ``merges.txt`` are the same), tokens spelled with
        :func:`bytes_to_unicode`.

        Args:
            encoder: token -> id, the special tokens included.
            merges: ``(left, right)`` tokens, first learned first.
            special_tokens: the entries of ``encoder`` that are special tokens.
            pattern: the pre-tokenization regular expression.
        """
        to_byte = {c: b for b, c in bytes_to_unicode().items()}

        def raw(token: str) -> bytes:
            try:
                return bytes(to_byte[c] for c in token)
            except KeyError as exc:
                raise ValueError(
                    f"token {token!r} has a character {exc} outside GPT-2's byte map "
                    "(bytes_to_unicode); if it is a special token, list it in special_tokens."
                ) from None

        missing = [s for s in special_tokens if s not in encoder]
        if missing:
            raise ValueError(f"special tokens {missing} are not in encoder; add them with ids.")
        specials = {s: int(encoder[s]) for s in special_tokens}
        vocab = {int(i): raw(t) for t, i in encoder.items() if t not in specials}
        pairs = [(raw(a), raw(b)) for a, b in merges]
        return cls.from_vocab_merges(vocab, pairs, specials, pattern)

    @classmethod
    def from_gpt2(cls) -> ByteBPETokenizer:
        """GPT-2's tokenizer: its 50,000 merges, 50,257 ids, ``<|endoftext|>`` = 50256.

        Read from the bundled ``data/gpt2/gpt2_bpe.json.gz`` (OpenAI's ``encoder.json`` and
        ``vocab.bpe``) with :meth:`from_gpt2_files`.

        >>> gpt2 = ByteBPETokenizer.from_gpt2()
        >>> gpt2.vocab_size, gpt2.encode("Hello world"), gpt2.eos_id
        (50257, [15496, 995], 50256)
        """
        return cls.from_gpt2_files(*load_gpt2_bpe())

    def to_gpt2_files(self) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """``(encoder, merges)`` in GPT-2's format, the inverse of :meth:`from_gpt2_files`.

        This is also what Hugging Face's ``tokenizers.models.BPE(vocab, merges)`` takes.

        >>> tok = ByteBPETokenizer.train("hi hi", vocab_size=259)
        >>> encoder, merges = tok.to_gpt2_files()
        >>> merges, encoder["Ġhi"], encoder["<|endoftext|>"]
        ([('h', 'i'), ('Ġ', 'hi')], 257, 258)
        """
        table = bytes_to_unicode()
        names = {i: name for name, i in self.special_tokens.items()}

        def spell(i: int) -> str:
            return names.get(i) or "".join(table[b] for b in self.vocab[i])

        return {spell(i): i for i in self.vocab}, [(spell(a), spell(b)) for a, b in self.merges]

    # --- encoding ------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of ids: 256 bytes + merges + special tokens."""
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        """The ids of one pre-tokenized chunk: apply the merges, lowest rank first."""
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = [self.byte_ids[b] for b in chunk.encode("utf-8")]
        ranks, never = self._ranks, len(self._ranks)
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: ranks.get(p, never))
            if pair not in ranks:
                break  # nothing left to merge
            ids = merge(ids, pair, self.merges[pair])
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[chunk] = ids
        return ids

    def _pieces(self, text: str, specials: bool = True) -> Iterator[tuple[int, list[int]]]:
        """``(end, ids)`` of each special token and each pre-tokenized chunk of ``text``."""
        pos = 0
        matches = self._special_split.finditer(text) if specials and self._special_split else ()
        for found in [*matches, None]:
            stop = len(text) if found is None else found.start()
            for m in self._split.finditer(text[pos:stop]):
                yield pos + m.end(), self._encode_chunk(m.group())
            if found is not None:
                yield found.end(), [self.special_tokens[found.group()]]
                pos = found.end()

    def _encode(self, text: str) -> list[int]:
        _check_text(text, "encode()")
        return [i for _, ids in self._pieces(text) for i in ids]

    def encode_ordinary(self, text: str) -> list[int]:
        """Text → ids, with special tokens' names encoded as ordinary text.

        >>> tok = ByteBPETokenizer.train("ab ab", vocab_size=258, special_tokens=("<s>",))
        >>> tok.encode("<s>ab"), tok.encode_ordinary("<s>ab")
        ([257, 256], [60, 115, 62, 256])
        """
        _check_text(text, "encode_ordinary()")
        return [i for _, ids in self._pieces(text, specials=False) for i in ids]

    def encode_file(self, source: str | Path | IO[str], chunk_size: int = 1 << 20) -> Iterator[int]:
        """Encode a large UTF-8 file in bounded memory: the ids of ``encode(its text)``, lazily.

        The file is read ``chunk_size`` characters at a time, without newline translation
        (``newline=""``). A chunk is encoded only up to the last place where the whole text's
        encoding must cut too: a chunk boundary far enough before the end of the buffer (and before
        its trailing whitespace, which more text could extend); the rest waits for the next read.
        Memory is ``chunk_size`` plus the longest chunk of the text.

        Args:
            source: a path, or a text file object opened with ``newline=""``.
            chunk_size: characters per read.

        >>> import io
        >>> tok = ByteBPETokenizer.train("to be or not to be", vocab_size=270)
        >>> tok.vocab_size  # ran out of pairs after 9 merges
        266
        >>> list(tok.encode_file(io.StringIO("to be<|endoftext|>"), chunk_size=3))
        [257, 258, 265]
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int (characters), got {chunk_size!r}.")
        if isinstance(source, (str, Path)):
            with open(source, encoding="utf-8", newline="") as fh:
                yield from self._encode_stream(fh, chunk_size)
        else:
            yield from self._encode_stream(source, chunk_size)

    def _encode_stream(self, fh: IO[str], chunk_size: int) -> Iterator[int]:
        # Characters a decision may look past a chunk's end: a special token, or a contraction.
        margin = max([8, *map(len, self.special_tokens)])
        buffer = ""
        while True:
            new = fh.read(chunk_size)
            _check_text(new, "encode_file() reads text and")
            buffer += new
            if not new:  # end of file: everything is final
                yield from self._encode(buffer)
                return
            safe = len(buffer.rstrip()) - margin
            cut, done = 0, []
            for end, ids in self._pieces(buffer):
                if end > safe:
                    break
                cut = end
                done.extend(ids)
            yield from done
            buffer = buffer[cut:]

    # --- decoding ------------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Ids → the bytes they stand for (special tokens as their UTF-8 names).

        Raises:
            ValueError: an id outside ``0 .. vocab_size - 1`` (the message names it).
        """
        vocab, out = self.vocab, []
        for i in ids:
            token = vocab.get(int(i))
            if token is None:
                raise ValueError(
                    f"Token id {int(i)} is outside the vocabulary: vocab_size is "
                    f"{len(vocab)}, so ids run 0..{len(vocab) - 1}."
                )
            out.append(token)
        return b"".join(out)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → text; bytes that are not valid UTF-8 (a cut-off character) become ``�``.

        >>> tok = ByteBPETokenizer.train("", vocab_size=256, special_tokens=())
        >>> tok.decode(tok.encode("月")), tok.decode(tok.encode("月")[:2])
        ('月', '�')
        """
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- files ---------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[attr-defined]

    def get_config(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "byte_ids": self.byte_ids,
            "merges": [[a, b, i] for (a, b), i in self.merges.items()],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ByteBPETokenizer:
        merges = [((int(a), int(b)), int(i)) for a, b, i in config["merges"]]
        specials = {str(k): int(v) for k, v in config["special_tokens"].items()}
        return cls(merges, specials, str(config["pattern"]), [int(i) for i in config["byte_ids"]])

    @classmethod
    def load(cls, path: str | Path) -> ByteBPETokenizer:
        """Read a tokenizer written by :meth:`save` (any other type is refused, with its name)."""
        tok = load_tokenizer(path)
        if not isinstance(tok, cls):
            raise ValueError(
                f"{path} holds a {type(tok).__name__}, not a {cls.__name__}: read it with "
                f"{type(tok).__name__}.load() or coursekit.data.load_tokenizer()."
            )
        return tok


def _learn_merges(chunks: Mapping[str, int], n_merges: int, min_freq: int) -> dict[Pair, int]:
    """The BPE training loop over distinct chunks (``chunk -> frequency``), ids from 256 up.

    Pair counts are kept up to date incrementally: a merge re-counts only the chunks that hold
    the merged pair (``where`` remembers them), not the whole text.
    """
    words = [list(chunk.encode("utf-8")) for chunk in chunks]
    freqs = list(chunks.values())
    counts: Counter[Pair] = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for w, ids in enumerate(words):
        for pair in pairwise(ids):
            counts[pair] += freqs[w]
            where[pair].add(w)
    merges: dict[Pair, int] = {}
    for new_id in range(256, 256 + n_merges):
        if not counts:
            break
        # Most frequent pair; on a tie, the smaller (left, right) ids.
        pair, n = max(counts.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
        if n < min_freq:
            break
        merges[pair] = new_id
        for w in where.pop(pair):
            old, new = words[w], merge(words[w], pair, new_id)
            if len(new) == len(old):
                continue  # this chunk lost the pair to an earlier merge
            for p in pairwise(old):
                counts[p] -= freqs[w]
                if counts[p] == 0:
                    del counts[p]
            for p in pairwise(new):
                counts[p] += freqs[w]
                where[p].add(w)
            words[w] = new
    return merges


def load_gpt2_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's ``encoder.json`` (token -> id) and ``vocab.bpe`` merges, as OpenAI wrote them.

    Tokens are spelled with :func:`bytes_to_unicode` (``"Ġworld"`` is ``b" world"``).

    Raises:
        DataFileError: the bundled file is missing, damaged, or not in the expected shape.

    >>> encoder, merges = load_gpt2_bpe()
    >>> len(encoder), len(merges), merges[0], encoder["Ġworld"]
    (50257, 50000, ('Ġ', 't'), 995)
    """
    data = json.loads(read_bundled_text(GPT2_DATA))
    try:
        encoder = {str(t): int(i) for t, i in data["encoder"].items()}
        merges = [tuple(line.split(" ")) for line in data["merges"]]
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise DataFileError(
            f"The bundled file {GPT2_DATA!r} does not hold GPT-2's encoder and merges ({exc}); "
            f"rebuild it with `{REBUILD_COMMAND} --only {GPT2_DATA}`."
        ) from None
    if not all(len(m) == 2 for m in merges):
        bad = next(m for m in merges if len(m) != 2)
        raise DataFileError(f"The bundled file {GPT2_DATA!r} has a bad merge line {bad!r}.")
    return encoder, merges  # type: ignore[return-value]


def gpt2_tokenizer() -> ByteBPETokenizer:
    """GPT-2's tokenizer (the same as :meth:`ByteBPETokenizer.from_gpt2`)."""
    return ByteBPETokenizer.from_gpt2()
