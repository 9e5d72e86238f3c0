"""Byte-level BPE (chapter 08): the training steps, round trips, special tokens, streaming,
saved files, bad input, and parity with Hugging Face ``tokenizers`` on our vocabulary and on
GPT-2's real one."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from coursekit.data import (
    ENDOFTEXT,
    GPT4_PATTERN,
    ByteBPETokenizer,
    CharTokenizer,
    bytes_to_unicode,
    get_pair_counts,
    load_gpt2_bpe,
    load_text,
    load_tokenizer,
    merge,
)

MIXED = (
    "Hello world! It's 2019; we'll see.\n\n"
    "def f(x):\n    return x ** 2  # 12345 3.14159\n"
    "\t\tTabs,   three spaces\u00a0nbsp   \n  \n"
    "床前明月光，疑是地上霜。 中文 😀🎉 👩‍👩‍👧 café naïve Ωmega"
    "<|endoftext|>Next document   <|endoftext|><|endoftext|> end"
)
TRICKY = "a'll 'S 'll ''re   \n\n   x \r\n\r\n y ¡!! 1234567 ——<|endoftext|>  <|end|>"


@pytest.fixture(scope="module")
def shakespeare() -> ByteBPETokenizer:
    return ByteBPETokenizer.train(load_text("shakespeare_tiny", "train")[:300_000], vocab_size=400)


@pytest.fixture(scope="module")
def gpt2() -> ByteBPETokenizer:
    return ByteBPETokenizer.from_gpt2()


def _hf(encoder: dict[str, int], merges: list[tuple[str, str]], specials) -> HFTokenizer:
    """Hugging Face's byte-level BPE built from a vocabulary and merges in GPT-2's spelling."""
    hf = HFTokenizer(models.BPE(vocab=encoder, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return hf


def _hf_from_ours(tok: ByteBPETokenizer) -> HFTokenizer:
    return _hf(*tok.to_gpt2_files(), list(tok.special_tokens))


# --- the two steps of the algorithm ----------------------------------------------------------


def test_pair_counts_and_one_merge_step():
    ids = list(b"aaabdaaabac")
    counts = get_pair_counts(ids)
    assert counts[(97, 97)] == 4 and counts[(97, 98)] == 2 and sum(counts.values()) == len(ids) - 1
    assert merge(ids, (97, 97), 256) == [256, 97, 98, 100, 256, 97, 98, 97, 99]
    assert merge([256, 97, 98], (97, 98), 257) == [256, 257]
    assert merge([1, 2], (3, 4), 5) == [1, 2] and merge([], (1, 2), 3) == []
    assert get_pair_counts([7]) == Counter() and get_pair_counts([1, 1, 1]) == {(1, 1): 2}


def test_training_merges_the_most_frequent_pair_with_documented_ties():
    # "ab" x3 and "cd" x3 tie on counts: the smaller pair of ids, (97, 98), goes first.
    tok = ByteBPETokenizer.train(["cd cd cd", "ab ab ab"], vocab_size=258, special_tokens=())
    assert list(tok.merges) == [(97, 98), (99, 100)]
    assert tok.encode("abcd") == [256, 257] and tok.vocab[257] == b"cd"
    again = ByteBPETokenizer.train(["ab ab ab", "cd cd cd"], vocab_size=258, special_tokens=())
    assert again == tok  # the order of the texts does not matter, only the counts


def test_merges_never_cross_pre_token_boundaries():
    tok = ByteBPETokenizer.train("a.a.a.a.a.", vocab_size=300, special_tokens=())
    assert (ord("a"), ord(".")) not in tok.merges  # "a" and "." are always in different chunks
    assert tok.vocab_size == 256 + len(tok.merges) and len(tok.merges) <= 1


def test_training_is_fast_and_matches_the_merge_by_merge_definition(shakespeare):
    """Incremental pair counts give the same merges as recounting everything after each merge."""
    text = load_text("shakespeare_tiny", "train")[:20_000]
    tok = ByteBPETokenizer.train(text, vocab_size=300, special_tokens=())
    words = [list(m.encode()) for m in tok._split.findall(text)]
    expected = {}
    for new_id in range(256, 300):
        counts = Counter()
        for ids in words:
            get_pair_counts(ids, counts)
        pair = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))
        expected[pair] = new_id
        words = [merge(ids, pair, new_id) for ids in words]
    assert tok.merges == expected
    assert shakespeare.vocab_size == 400 and shakespeare.decode([256]) == " t"


# --- round trips -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=120), st.sampled_from(["", ENDOFTEXT, "<|end|>"]), st.text(max_size=20))
def test_decode_encode_is_the_identity_for_any_text(shakespeare, gpt2, text, special, more):
    text = text + special + more + "床前明月光 😀"
    for tok in (shakespeare, gpt2):
        assert tok.decode(tok.encode(text)) == text
        assert tok.decode(tok.encode_ordinary(text)) == text
        assert tok.decode_bytes(tok.encode(text)) == text.encode("utf-8")


def test_decode_replaces_invalid_utf8_and_names_unknown_ids(shakespeare):
    ids = shakespeare.encode("😀")
    assert shakespeare.decode(ids[:-1]).endswith("\ufffd")
    with pytest.raises(ValueError, match=r"Token id 400 .* vocab_size is 400, so ids run 0\.\.399"):
        shakespeare.decode([1, 400])
    with pytest.raises(ValueError, match="Token id -1"):
        shakespeare.decode_bytes([-1])


# --- special tokens ------------------------------------------------------------------------------


def test_special_tokens_are_never_split_and_the_longest_wins():
    specials = ("<|end|>", ENDOFTEXT, "<|endoftext|>!")
    text = "<|endoftext|>the end<|end|>, " * 50
    tok = ByteBPETokenizer.train(text, vocab_size=300, special_tokens=specials)
    end, eot, bang = (tok.special_tokens[s] for s in specials)
    first = 256 + len(tok.merges)  # training ran out of pairs: the specials follow the merges
    assert (end, eot, bang) == (first, first + 1, first + 2) and tok.eos_id == tok.bos_id == eot
    assert tok.encode("<|endoftext|>!") == [bang]  # the longer of two overlapping names
    assert tok.encode("<|endoftext|>?")[0] == eot and tok.encode("<|end|>") == [end]
    assert tok.encode("a<|endoftext|><|end|>", add_eos=True)[-3:] == [eot, end, eot]
    # Nothing was learned from inside the special tokens' names.
    assert all(b"|" not in tok.vocab[i] for i in range(256, first))
    assert eot not in tok.encode_ordinary("<|endoftext|>")


# --- streaming ---------------------------------------------------------------------------------


class _Recording(io.StringIO):
    """A text file that remembers how much each read asked for."""

    def __init__(self, text: str) -> None:
        super().__init__(text, newline="")
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> str:  # type: ignore[override]
        self.reads.append(size)
        return super().read(size)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 1 << 20])
def test_streaming_equals_encoding_the_whole_text(shakespeare, tmp_path, chunk_size):
    # GPT-4's "\s*[\r\n]" makes a whitespace run's tokens depend on where the run ends.
    runs = "x\n" + " " * 30 + "\n y" + " " * 20 + "\r\n  \r\n\n  "
    text = load_text("shakespeare_tiny", "valid")[:5_000] + MIXED + TRICKY + runs
    path = tmp_path / "big.txt"
    path.write_bytes(text.encode("utf-8"))
    gpt4 = ByteBPETokenizer(shakespeare.merges, shakespeare.special_tokens, GPT4_PATTERN)
    for tok in (shakespeare, gpt4):
        assert list(tok.encode_file(path, chunk_size=chunk_size)) == tok.encode(text)


def test_streaming_reads_lazily_in_bounded_chunks(shakespeare):
    text = load_text("shakespeare_tiny", "valid")[:20_000]
    fh = _Recording(text)
    stream = shakespeare.encode_file(fh, chunk_size=100)
    first = [next(stream) for _ in range(10)]
    assert fh.tell() < 1_000, "ids must come out before the whole file is read"
    rest = list(stream)
    assert first + rest == shakespeare.encode(text)
    assert set(fh.reads) == {100} and len(fh.reads) == len(text) // 100 + 1


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=" \n\r\t'aSl1é中😀!—<|endoftext>", max_size=80),
    st.integers(1, 12),
    st.sampled_from(["gpt2", "gpt4"]),
)
def test_streaming_is_exact_at_every_chunk_boundary(shakespeare, text, chunk_size, pattern):
    tok = shakespeare
    if pattern == "gpt4":
        tok = ByteBPETokenizer(shakespeare.merges, shakespeare.special_tokens, GPT4_PATTERN)
    assert list(tok.encode_file(io.StringIO(text, newline=""), chunk_size)) == tok.encode(text)


# --- other constructors and files -----------------------------------------------------------------


def test_from_vocab_merges_rebuilds_a_trained_tokenizer(shakespeare):
    ordinary = {i: b for i, b in shakespeare.vocab.items() if i < 399}
    pairs = [(shakespeare.vocab[a], shakespeare.vocab[b]) for a, b in shakespeare.merges]
    for vocab in (ordinary, {b: i for i, b in ordinary.items()}):
        rebuilt = ByteBPETokenizer.from_vocab_merges(vocab, pairs, shakespeare.special_tokens)
        assert rebuilt == shakespeare and rebuilt.encode(MIXED) == shakespeare.encode(MIXED)
    with pytest.raises(ValueError, match=r"merge 3's result b'.*' is not in vocab"):
        ByteBPETokenizer.from_vocab_merges(
            {i: b for i, b in ordinary.items() if i != 259}, pairs, shakespeare.special_tokens
        )
    encoder, merges = shakespeare.to_gpt2_files()
    assert ByteBPETokenizer.from_gpt2_files(encoder, merges) == shakespeare
    with pytest.raises(ValueError, match=r"399: b'<\|endoftext\|>'; if they are special tokens"):
        ByteBPETokenizer.from_gpt2_files(encoder, merges, special_tokens=())
    with pytest.raises(ValueError, match=r"'<s😀>' has a character '😀' outside GPT-2's byte map"):
        ByteBPETokenizer.from_gpt2_files({**encoder, "<s😀>": 400}, merges)
    with pytest.raises(ValueError, match=r"special tokens \['<s>'\] are not in encoder"):
        ByteBPETokenizer.from_gpt2_files(encoder, merges, special_tokens=("<s>",))
    with pytest.raises(ValueError, match="the byte b'a' is not in vocab"):
        ByteBPETokenizer.from_vocab_merges({i: bytes([i]) for i in range(97)}, [])


def test_save_and_load_round_trip_and_refuse_other_files(shakespeare, tmp_path):
    path = tmp_path / "bpe.json"
    shakespeare.save(path)
    assert json.loads(path.read_text())["type"] == "ByteBPETokenizer"
    assert ByteBPETokenizer.load(path) == shakespeare and load_tokenizer(path) == shakespeare
    assert ByteBPETokenizer.load(path).encode(MIXED) == shakespeare.encode(MIXED)
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "format": 7}))
    with pytest.raises(
        ValueError, match=r"bpe\.json: ByteBPETokenizer file format 7.*formats 1 to 1"
    ):
        ByteBPETokenizer.load(path)
    path.write_text(json.dumps({k: v for k, v in config.items() if k != "merges"}))
    with pytest.raises(ValueError, match=r"bpe\.json is not a saved ByteBPETokenizer.*'merges'"):
        ByteBPETokenizer.load(path)
    path.write_text(json.dumps({**config, "merges": [[999, 1, 256]]}))
    with pytest.raises(ValueError, match=r"bpe\.json: merge 0 \(999, 1\)"):
        ByteBPETokenizer.load(path)
    CharTokenizer.train("abc").save(path)
    with pytest.raises(ValueError, match=r"holds a CharTokenizer, not a ByteBPETokenizer: read it"):
        ByteBPETokenizer.load(path)


def test_bad_input_is_explained(shakespeare):
    with pytest.raises(ValueError, match=r"vocab_size=200 is too small.*at least 257"):
        ByteBPETokenizer.train("abc", vocab_size=200)
    with pytest.raises(ValueError, match=r"at least 258"):
        ByteBPETokenizer.train("abc", vocab_size=257, special_tokens=("<a>", "<b>"))
    with pytest.raises(TypeError, match="special_tokens must be a sequence"):
        ByteBPETokenizer.train("abc", vocab_size=300, special_tokens=ENDOFTEXT)
    with pytest.raises(ValueError, match="duplicates"):
        ByteBPETokenizer.train("abc", vocab_size=300, special_tokens=("<a>", "<a>"))
    with pytest.raises(TypeError, match=r"item 1 is bytes.*decode"):
        ByteBPETokenizer.train(["abc", b"def"], vocab_size=300)
    with pytest.raises(TypeError, match=r"encode\(\) takes a str, got bytes.*decode"):
        shakespeare.encode(b"abc")
    with pytest.raises(TypeError, match=r"encode_ordinary\(\) takes a str, got int"):
        shakespeare.encode_ordinary(3)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        next(shakespeare.encode_file(io.StringIO("x"), chunk_size=0))
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        ByteBPETokenizer.train("abc", vocab_size=300, min_freq=0)


def test_min_freq_and_running_out_of_pairs_stop_early():
    assert len(ByteBPETokenizer.train("ab ab cd", vocab_size=300, min_freq=2).merges) == 1
    tok = ByteBPETokenizer.train("abc", vocab_size=1000)
    assert len(tok.merges) == 2 and tok.vocab_size == 259 and tok.encode("abc") == [257]


# --- parity with Hugging Face tokenizers -----------------------------------------------------------


def test_same_ids_as_tokenizers_on_our_trained_vocabulary(shakespeare):
    hf = _hf_from_ours(shakespeare)
    held_out = load_text("shakespeare_tiny", "valid")[:30_000] + MIXED + TRICKY
    ours = shakespeare.encode(held_out)
    assert ours == hf.encode(held_out).ids
    assert len(ours) < 0.6 * len(held_out.encode()), "400 ids should compress the text"
    assert hf.decode(ours, skip_special_tokens=False) == held_out


def test_gpt2_real_vocabulary_gives_gpt2s_ids(gpt2):
    encoder, merges = load_gpt2_bpe()
    assert len(encoder) == 50257 and len(merges) == 50000
    assert gpt2.vocab_size == 50257 and gpt2.special_tokens == {ENDOFTEXT: 50256}
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.encode(" the") == [262] and gpt2.encode(ENDOFTEXT) == [50256]
    assert gpt2.vocab[encoder["Ġworld"]] == b" world" and gpt2.byte_ids[ord("!")] == 0
    assert gpt2.to_gpt2_files() == (encoder, merges)  # bytes <-> GPT-2's spelling, both ways
    hf = _hf(encoder, merges, [ENDOFTEXT])
    text = MIXED + TRICKY + load_text("shakespeare_tiny", "test")[:5_000]
    assert gpt2.encode(text) == hf.encode(text).ids
    assert gpt2.decode(gpt2.encode(text)) == text


def test_bytes_to_unicode_is_gpt2s_map():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[0] == "Ā" and table[ord(" ")] == "Ġ" and table[255] == "ÿ" and table[173] == "Ń"
