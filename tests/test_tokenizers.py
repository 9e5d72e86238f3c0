"""Character and word tokenizers: round trips, unknown tokens, specials, save/load, Chinese."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data.tokenizers import (
    SPECIALS,
    CharTokenizer,
    WordTokenizer,
    load_tokenizer,
    word_split,
)

ALPHABET = "abc xyz,.!?'\n床前明月光，。"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_char_round_trip_any_text(text):
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text
    ids = tok.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == 2 and ids[-1] == 3 and len(ids) == len(text) + 2
    assert tok.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=100), st.text(alphabet="QRS😀", min_size=1, max_size=5))
def test_char_unknown_characters_become_unk(known, unknown):
    tok = CharTokenizer.from_text(ALPHABET)
    ids = tok.encode(known + unknown)
    assert ids[len(known) :] == [tok.unk_id] * len(unknown)
    assert tok.decode(ids) == known + "\ufffd" * len(unknown)
    assert tok.decode(ids, keep_special=True).endswith("<unk>")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["the", "cat", "don't", "well-known", ",", "!", "月", "42"]), max_size=30
    )
)
def test_word_round_trip_is_exact_on_tokens(words):
    text = " ".join(words)
    tok = WordTokenizer.from_texts(text)
    assert tok.tokenize(text) == words
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(tok.decode(tok.encode(text))) == tok.encode(text)


def test_specials_have_stable_ids():
    for tok in (CharTokenizer.from_text("ab"), WordTokenizer.from_texts("a b")):
        assert tok.itos[:4] == list(SPECIALS)
        assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
        assert tok.decode([0, 2, 3]) == "" and tok.decode([0, 2, 3], keep_special=True) != ""


def test_chinese_by_characters_without_special_cases():
    poem = "床前明月光，疑是地上霜。"
    tok = CharTokenizer.from_text(poem)
    assert tok.vocab_size == 4 + len(set(poem))
    assert len(tok.encode(poem)) == len(poem)
    assert tok.decode(tok.encode(poem)) == poem
    assert word_split(poem) == list(poem)  # the word tokenizer splits Chinese into characters


def test_word_vocabulary_min_freq_max_size_and_order():
    tok = WordTokenizer.from_texts(["b a a c", "a b d"], min_freq=2)
    assert tok.itos[4:] == ["a", "b"]  # most frequent first, ties alphabetical
    assert tok.encode("c a") == [tok.unk_id, 4]
    assert WordTokenizer.from_texts("c b b a a a", max_size=2).itos[4:] == ["a", "b"]
    assert WordTokenizer.from_texts("The the THE", lowercase=True).itos[4:] == ["the"]
    with pytest.raises(ValueError, match="min_freq"):
        WordTokenizer.from_texts("a", min_freq=0)


def test_empty_text():
    tok = CharTokenizer.from_text("")
    assert tok.vocab_size == 4 and tok.encode("") == [] and tok.decode([]) == ""
    assert WordTokenizer.from_texts("").encode("anything") == [1]


def test_decode_rejects_ids_outside_the_vocabulary():
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError, match="Token id 6 is outside the vocabulary"):
        tok.decode([4, 6])


@pytest.mark.parametrize(
    "tok",
    [
        CharTokenizer.from_text("hello 世界"),
        WordTokenizer.from_texts("Hello World", lowercase=True),
    ],
)
def test_save_load_round_trip_is_json(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    config = json.loads(path.read_text(encoding="utf-8"))
    assert config["type"] == type(tok).__name__ and config["tokens"] == tok.itos
    again = type(tok).load(path)
    assert again == tok and load_tokenizer(path) == tok
    assert again.encode("hello world") == tok.encode("hello world")


def test_load_explains_bad_files(tmp_path):
    path = tmp_path / "tok.json"
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a saved coursekit tokenizer"):
        load_tokenizer(path)
    CharTokenizer.from_text("ab").save(path)
    with pytest.raises(ValueError, match="holds a CharTokenizer, not a WordTokenizer"):
        WordTokenizer.load(path)
    path.write_text(json.dumps({"type": "CharTokenizer", "format": 1, "tokens": ["a", "b"]}))
    with pytest.raises(ValueError, match="first tokens must be"):
        load_tokenizer(path)


def test_bad_vocabularies_are_refused():
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="Duplicate tokens"):
        WordTokenizer(["a", "a"])


def test_on_the_bundled_corpora():
    from coursekit.data import load_text

    train = load_text("shakespeare_tiny", "train")
    tok = CharTokenizer.from_text(train)
    valid = load_text("shakespeare_tiny", "valid")
    ids = tok.encode(valid)
    assert tok.decode(ids) == "".join(c if c in tok.stoi else "\ufffd" for c in valid)
    words = WordTokenizer.from_texts(train, min_freq=3, lowercase=True)
    assert 3000 < words.vocab_size < 10000
    assert words.encode("To be, or not to be")[:2] == [words.stoi["to"], words.stoi["be"]]
