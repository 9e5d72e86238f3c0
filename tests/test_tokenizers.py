"""Tokenizers: the shared protocol and registry, round trips, unknown tokens, specials, save/load,
Chinese, and the deprecated constructor names."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data.tokenizers import (
    SPECIALS,
    TOKENIZERS,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    load_tokenizer,
    register_tokenizer,
    word_split,
)

ALPHABET = "abc xyz,.!?'\n床前明月光，。"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_char_round_trip_any_text(text):
    tok = CharTokenizer.train(text)
    assert tok.decode(tok.encode(text)) == text
    ids = tok.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == 2 and ids[-1] == 3 and len(ids) == len(text) + 2
    assert tok.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=100), st.text(alphabet="QRS😀", min_size=1, max_size=5))
def test_char_unknown_characters_become_unk(known, unknown):
    tok = CharTokenizer.train(ALPHABET)
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
    tok = WordTokenizer.train(text)
    assert tok.tokenize(text) == words
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(tok.decode(tok.encode(text))) == tok.encode(text)


def test_specials_have_stable_ids():
    for tok in (CharTokenizer.train("ab"), WordTokenizer.train("a b")):
        assert tok.itos[:4] == list(SPECIALS)
        assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
        assert tok.decode([0, 2, 3]) == "" and tok.decode([0, 2, 3], keep_special=True) != ""


def test_chinese_by_characters_without_special_cases():
    poem = "床前明月光，疑是地上霜。"
    tok = CharTokenizer.train(poem)
    assert tok.vocab_size == 4 + len(set(poem))
    assert len(tok.encode(poem)) == len(poem)
    assert tok.decode(tok.encode(poem)) == poem
    assert word_split(poem) == list(poem)  # the word tokenizer splits Chinese into characters


def test_word_vocabulary_min_freq_max_size_and_order():
    tok = WordTokenizer.train(["b a a c", "a b d"], min_freq=2)
    assert tok.itos[4:] == ["a", "b"]  # most frequent first, ties alphabetical
    assert tok.encode("c a") == [tok.unk_id, 4]
    assert WordTokenizer.train("c b b a a a", max_size=2).itos[4:] == ["a", "b"]
    assert WordTokenizer.train("The the THE", lowercase=True).itos[4:] == ["the"]
    with pytest.raises(ValueError, match="min_freq"):
        WordTokenizer.train("a", min_freq=0)


def test_empty_text():
    tok = CharTokenizer.train("")
    assert tok.vocab_size == 4 and tok.encode("") == [] and tok.decode([]) == ""
    assert WordTokenizer.train("").encode("anything") == [1]


def test_decode_rejects_ids_outside_the_vocabulary():
    tok = CharTokenizer.train("ab")
    with pytest.raises(ValueError, match="Token id 6 is outside the vocabulary"):
        tok.decode([4, 6])


@pytest.mark.parametrize(
    "tok",
    [
        CharTokenizer.train("hello 世界"),
        WordTokenizer.train("Hello World", lowercase=True),
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
    CharTokenizer.train("ab").save(path)
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
    tok = CharTokenizer.train(train)
    valid = load_text("shakespeare_tiny", "valid")
    ids = tok.encode(valid)
    assert tok.decode(ids) == "".join(c if c in tok.stoi else "\ufffd" for c in valid)
    words = WordTokenizer.train(train, min_freq=3, lowercase=True)
    assert 3000 < words.vocab_size < 10000
    assert words.encode("To be, or not to be")[:2] == [words.stoi["to"], words.stoi["be"]]


# --- one protocol for every tokenizer ----------------------------------------------------------


@pytest.mark.parametrize("tok", [CharTokenizer.train("ab"), WordTokenizer.train("a b")])
def test_char_and_word_follow_the_protocol(tok):
    assert isinstance(tok, Tokenizer)
    assert tok.special_tokens == {"<pad>": 0, "<unk>": 1, "<bos>": 2, "<eos>": 3}
    assert len(tok) == tok.vocab_size == 6
    assert tok.decode(tok.encode("a")) == "a"


@pytest.mark.parametrize(("cls", "joiner"), [(CharTokenizer, ""), (WordTokenizer, " ")])
def test_train_takes_one_text_or_many(cls, joiner):
    texts = ["the cat", "the dog", "a cat"]
    assert cls.train(texts) == cls.train(iter(texts)) == cls.train(joiner.join(texts))
    assert cls.train(texts, min_freq=2) != cls.train(texts)
    with pytest.raises(TypeError, match="positional argument"):  # min_freq is keyword-only
        cls.train(texts, 2)
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        cls.train(texts, min_freq=0)
    with pytest.raises(TypeError, match="a str or an iterable of str, got int"):
        cls.train(42)
    with pytest.raises(TypeError, match="item 1 is bytes"):
        cls.train(["ok", b"bytes"])


@register_tokenizer
class _Bytes(Tokenizer):
    """What chapter 08's BPE looks like to the protocol: ids map to bytes, one special at the end,
    no <pad>/<unk>/<bos>."""

    def __init__(self) -> None:
        self.vocab = {i: bytes([i]) for i in range(256)}
        self.special_tokens = {"<|endoftext|>": 256}
        self.eos_id = 256

    @classmethod
    def train(cls, text_or_texts, *, min_freq=1):
        return cls()

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def _encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return b"".join(self.vocab.get(int(i), b"") for i in ids).decode("utf-8", "replace")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls()


def test_a_byte_level_tokenizer_slots_into_the_protocol_and_registry(tmp_path):
    tok = _Bytes.train("anything")
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (None, None, None, 256)
    assert len(tok) == 257 and tok.encode("月", add_eos=True) == [230, 156, 136, 256]
    assert tok.decode(tok.encode("床前明月光")) == "床前明月光"
    with pytest.raises(ValueError, match="_Bytes has no <bos> token"):
        tok.encode("a", add_bos=True)
    tok.save(tmp_path / "bytes.json")
    assert json.loads((tmp_path / "bytes.json").read_text())["type"] == "_Bytes"
    assert isinstance(load_tokenizer(tmp_path / "bytes.json"), _Bytes)
    assert isinstance(Tokenizer.load(tmp_path / "bytes.json"), _Bytes)
    assert TOKENIZERS["CharTokenizer"] is CharTokenizer and TOKENIZERS["_Bytes"] is _Bytes


def test_registry_refuses_a_second_class_under_one_name():
    with pytest.raises(ValueError, match="already registered"):

        @register_tokenizer
        class CharTokenizer(Tokenizer):  # the clash is the point
            pass

    assert TOKENIZERS["CharTokenizer"].__module__ == "coursekit.data.tokenizers"


def test_unknown_type_lists_the_registered_ones(tmp_path):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps({"type": "BPETokenizer", "format": 2}))
    with pytest.raises(ValueError, match=r"unknown tokenizer type 'BPETokenizer'.*CharTokenizer"):
        load_tokenizer(path)


def test_files_from_the_first_format_still_load(tmp_path):
    """Exactly what `save` wrote before the protocol (format 1, no special_tokens)."""
    path = tmp_path / "old.json"
    old = '{\n"type": "WordTokenizer",\n"format": 1,\n"tokens": [\n"<pad>",\n"<unk>",\n"<bos>",\n'
    path.write_text(old + '"<eos>",\n"the"\n],\n"lowercase": true\n}\n', encoding="utf-8")
    tok = WordTokenizer.load(path)
    assert tok == WordTokenizer(["the"], lowercase=True) and tok.encode("The") == [4]
    new = tmp_path / "new.json"
    tok.save(new)
    config = json.loads(new.read_text(encoding="utf-8"))
    assert config["format"] == 2 and config["special_tokens"]["<eos>"] == 3
    assert load_tokenizer(new) == tok


def test_newer_or_inconsistent_files_are_explained(tmp_path):
    path = tmp_path / "tok.json"
    CharTokenizer.train("ab").save(path)
    config = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**config, "format": 9}))
    with pytest.raises(ValueError, match=r"format 9.*newer coursekit"):
        load_tokenizer(path)
    path.write_text(json.dumps({**config, "special_tokens": {"<pad>": 5}}))
    with pytest.raises(ValueError, match="special_tokens"):
        load_tokenizer(path)


def test_every_vocabulary_takes_min_freq_and_spells_specials_alike():
    """The three vocabularies of the package (see the module docstring) share the names."""
    from coursekit.embeddings import Vocabulary
    from coursekit.ngram import BOS, EOS, UNK, NGramLM

    words = ["a", "b", "a", "c", "a", "b"]
    assert Vocabulary.from_tokens(words, min_freq=2).words == ("a", "b")
    assert NGramLM(order=1, min_freq=2).fit([words]).words == (EOS, UNK, "a", "b")
    assert WordTokenizer.train(" ".join(words), min_freq=2).itos[4:] == ["a", "b"]
    assert (UNK, BOS, EOS) == SPECIALS[1:] == ("<unk>", "<bos>", "<eos>")
    assert Vocabulary.from_tokens(words, min_freq=2).counts.tolist() == [3, 2]
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        Vocabulary.from_tokens(words, min_freq=0)
