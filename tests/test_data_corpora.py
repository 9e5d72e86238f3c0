"""The bundled corpora: every name and split loads, splits never leak, bad input is explained."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from coursekit.data import bundled, corpora
from coursekit.data.bundled import DataFileError
from coursekit.data.corpora import (
    UnknownCorpus,
    corpus_names,
    load_labelled,
    load_pairs,
    load_similarity,
    load_table,
    load_text,
    stable_split,
)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
SPLITS = ("train", "valid", "test")


@pytest.fixture
def real_data(monkeypatch):
    """The repository's data folder (other tests may point $COURSEKIT_DATA_DIR elsewhere)."""
    monkeypatch.setenv(bundled.DATA_DIR_ENV, str(DATA))
    return DATA


def _copy_data(tmp_path: Path, monkeypatch, names: list[str]) -> Path:
    """A data folder with a copy of some real files and their manifest entries."""
    folder = tmp_path / "data"
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
    files = {n: manifest["files"][n] for n in names}
    for entry in files.values():
        (folder / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / entry["path"], folder / entry["path"])
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "files": files}))
    monkeypatch.setenv(bundled.DATA_DIR_ENV, str(folder))
    bundled._verified.clear()
    return folder


def _rewrite(folder: Path, name: str, payload: bytes) -> None:
    """Replace a file AND its manifest entry (a file that passes the checksum but is bad)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["files"][name]
    (folder / entry["path"]).write_bytes(payload)
    entry["sha256"] = hashlib.sha256(payload).hexdigest()
    entry["size"] = len(payload)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    bundled._verified.clear()


# --- every corpus loads, with the sizes the datasheet states --------------------------------


@pytest.mark.usefixtures("real_data")
@pytest.mark.parametrize("name", corpus_names()["text"])
def test_every_text_corpus_has_three_nonempty_disjoint_splits(name):
    parts = {s: load_text(name, s) for s in SPLITS}
    assert all(len(t) > 10_000 for t in parts.values())
    # train is by far the largest; the three splits add up to "all" (as documents/lines)
    assert len(parts["train"]) > 5 * len(parts["valid"])
    total = load_text(name, "all")
    assert sum(len(t) for t in parts.values()) == pytest.approx(len(total), abs=10)


@pytest.mark.usefixtures("real_data")
def test_shakespeare_tiny_is_eight_plays_held_out_by_play():
    text = load_text("shakespeare_tiny", "all")
    assert 1_000_000 < len(text) < 1_100_000
    plays = text.rstrip("\n").split("\n\n\n")
    assert len(plays) == 8
    assert load_text("shakespeare_tiny", "valid").startswith("MACBETH\n")
    assert load_text("shakespeare_tiny", "test").startswith("THE TEMPEST\n")
    assert "MACBETH\n\nby William" not in load_text("shakespeare_tiny", "train")
    assert len(set(text)) == 76 and text.isascii()


@pytest.mark.usefixtures("real_data")
def test_shakespeare_complete_holds_out_four_texts():
    docs = load_text("shakespeare_complete", "all").rstrip("\n").split("\n\n\n")
    assert len(docs) == 42
    valid = load_text("shakespeare_complete", "valid")
    test = load_text("shakespeare_complete", "test")
    assert valid.startswith("MACBETH") and "TWELFTH NIGHT" in valid
    assert test.startswith("THE TEMPEST") and "CORIOLANUS" in test
    assert "THE TEMPEST\n\nby" not in load_text("shakespeare_complete", "train")


@pytest.mark.usefixtures("real_data")
def test_tang_poems_are_regular_simplified_and_split_by_hash():
    rows = load_table("tang_poems", "all")
    assert len(rows) == 36_299
    assert {r["form"] for r in rows} == {"五绝", "五律", "七绝", "七律"}
    for r in rows[:2000]:
        n_lines = 4 if r["form"].endswith("绝") else 8
        assert len(r["text"]) == n_lines * (6 if r["form"].startswith("五") else 8)
        assert r["split"] == stable_split(r["text"])
    text = load_text("tang_poems", "all")
    assert "風" not in text and "风" in text  # simplified characters
    assert "□" not in text
    # the five-character file is the 五言 subset, with the same split of every poem
    five = {r["text"]: r["split"] for r in rows if r["form"].startswith("五")}
    for split in SPLITS:
        lines = load_text("tang_poems_5char", split).splitlines()
        assert lines and all(five[line] == split for line in lines)
    assert len(load_text("tang_poems_5char", "all").splitlines()) == len(five)


@pytest.mark.usefixtures("real_data")
def test_bible_pairs_split_by_whole_chapter_and_clean():
    rows = load_table("bible_kjv_web", "all")
    assert len(rows) == 31_084
    split_of: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        split_of.setdefault((r["book"], r["chapter"]), set()).add(r["split"])
    assert all(len(s) == 1 for s in split_of.values()), "a chapter is in two splits"
    pairs = {s: load_pairs("bible_kjv_web", s) for s in SPLITS}
    assert [len(pairs[s]) for s in SPLITS] == [28_616, 1_164, 1_304]
    assert pairs["train"][0] == (
        "In the beginning God created the heaven and the earth.",
        "In the beginning, God created the heavens and the earth.",
    )
    assert load_pairs("bible_web_kjv", "test")[0] == tuple(reversed(pairs["test"][0]))
    rev = next(r for r in rows if (r["book"], r["chapter"], r["verse"]) == ("Rev", "22", "21"))
    assert rev["web"] == "The grace of the Lord Jesus Christ be with all the saints. Amen."
    everything = " ".join(r["kjv"] + " " + r["web"] for r in rows)
    for glued in ("Godcreated", "bornSon", "<w", "\\nd", "¶"):
        assert glued not in everything
    assert load_text("bible_web", "train").count("\n") == len(pairs["train"])


@pytest.mark.usefixtures("real_data")
def test_spanish_pairs_follow_the_same_chapter_split_and_skip_drifted_chapters():
    rows = load_table("bible_spa", "all")
    assert len(rows) == 30_718
    english = {
        (r["book"], r["chapter"], r["verse"]): r["split"]
        for r in load_table("bible_kjv_web", "all")
    }
    for r in rows:  # every Spanish verse is at a reference of bible_kjv_web, in the same split
        assert english[(r["book"], r["chapter"], r["verse"])] == r["split"]
    chapters = {(r["book"], r["chapter"]) for r in rows}
    for drifted in (("Num", "13"), ("Num", "30"), ("Job", "38"), ("Job", "40"), ("Jonah", "2")):
        assert drifted not in chapters
    pairs = {s: load_pairs("bible_web_spa", s) for s in SPLITS}
    assert [len(pairs[s]) for s in SPLITS] == [28_279, 1_163, 1_276]
    assert pairs["train"][0] == (
        "In the beginning, God created the heavens and the earth.",
        "En el principio crió Dios los cielos y la tierra.",
    )
    assert load_pairs("bible_kjv_spa", "test")[0][1] == pairs["test"][0][1]
    assert "EN el principio" not in load_text("bible_spa", "all")  # drop caps undone


@pytest.mark.usefixtures("real_data")
@pytest.mark.parametrize(
    ("name", "sizes", "labels"),
    [
        ("wordnet_gloss10", (4800, 600, 600), 10),
        ("zh_reviews_sentiment", (13_286, 1_660, 1_660), 2),
    ],
)
def test_labelled_sets_are_balanced_and_splits_disjoint(name, sizes, labels):
    data = {s: load_labelled(name, s) for s in SPLITS}
    assert tuple(len(data[s]) for s in SPLITS) == sizes
    for split in SPLITS:
        counts: dict[str, int] = {}
        for _, label in data[split]:
            counts[label] = counts.get(label, 0) + 1
        assert len(counts) == labels and len(set(counts.values())) == 1  # balanced
    texts = {s: {t for t, _ in data[s]} for s in SPLITS}
    assert len(texts["train"]) == sizes[0]  # no duplicates
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["valid"]
    assert not texts["valid"] & texts["test"]


@pytest.mark.usefixtures("real_data")
def test_gloss_test_items_never_appear_in_pretraining_text():
    pretraining = load_text("shakespeare_complete", "all") + load_text("bible_web", "all")
    pretraining += load_text("bible_kjv", "all")
    for text, _ in load_labelled("wordnet_gloss10", "test"):
        assert text not in pretraining


@pytest.mark.usefixtures("real_data")
def test_wordnet_pairs():
    syn = load_similarity("wordnet_synonyms")
    assert len(syn) == 6016 and all(score == 1.0 for *_, score in syn)
    assert ("able", "capable", 1.0) in syn
    sim = load_similarity("wordnet_noun_similarity")
    assert len(sim) == 3395 and all(0.0 <= s <= 1.0 for *_, s in sim)
    assert min(s for *_, s in sim) < 0.15 and max(s for *_, s in sim) > 0.9


@pytest.mark.usefixtures("real_data")
def test_human_rated_sets_come_from_an_installed_gensim():
    if importlib.util.find_spec("gensim") is None:  # not imported: only its data files are read
        pytest.skip("gensim is optional")
    simlex = load_similarity("simlex999")
    assert len(simlex) == 999 and ("smart", "intelligent", 9.2) in simlex
    assert len(load_similarity("wordsim353")) == 353
    assert corpora.analogies("family")[0] == ("boy", "girl", "brother", "sister")
    assert len(corpora.analogies()) == 19_544


def test_gensim_sets_without_gensim_say_how_to_install(monkeypatch):
    monkeypatch.setattr(corpora.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataFileError, match=r"needs gensim.*pip install"):
        load_similarity("simlex999")


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.usefixtures("real_data")
@pytest.mark.parametrize(
    ("loader", "kind"),
    [(load_text, "text corpus"), (load_pairs, "pair corpus"), (load_labelled, "labelled corpus")],
)
def test_unknown_name_lists_available(loader, kind):
    with pytest.raises(UnknownCorpus, match=rf"Unknown {kind} 'shakespear'.*Available: \w+"):
        loader("shakespear", "train")


@pytest.mark.usefixtures("real_data")
def test_unknown_name_is_a_lookup_error_that_suggests_names():
    with pytest.raises(LookupError) as error:
        load_text("shakespear")
    assert isinstance(error.value, UnknownCorpus) and not isinstance(error.value, DataFileError)
    assert "Did you mean 'shakespeare_tiny' or 'shakespeare_complete'?" in str(error.value)
    assert error.value.name == "shakespear" and "tang_poems" in error.value.available
    with pytest.raises(UnknownCorpus, match=r"'bible_kjv_web' is a pair corpus.*load_pairs"):
        load_text("bible_kjv_web")
    with pytest.raises(
        UnknownCorpus, match=r"Unknown table 'tang_poem'. Did you mean 'tang_poems'"
    ):
        load_table("tang_poem")
    with pytest.raises(UnknownCorpus, match=r"Unknown table 'shakespeare_tiny'.*load_text"):
        load_table("shakespeare_tiny")  # a bundled file, but plain text, not a table


@pytest.mark.usefixtures("real_data")
def test_load_table_defaults_to_the_training_split_like_every_loader():
    import inspect

    for loader in (load_text, load_pairs, load_labelled):
        assert inspect.signature(loader).parameters["split"].default == "train"
    everything = load_table("tang_poems", "all")
    assert load_table("tang_poems") == [r for r in everything if r["split"] == "train"]
    assert load_table("tang_poems") == load_table("tang_poems", "train")
    texts = [r["text"] for r in load_table("tang_poems")]
    assert "\n".join(texts) + "\n" == load_text("tang_poems")  # the same default split
    assert len(load_table("wordnet_synonyms")) == 6016  # no split column: the whole table


@pytest.mark.usefixtures("real_data")
def test_unknown_similarity_set_and_split():
    with pytest.raises(
        UnknownCorpus,
        match="Available: simlex999, wordnet_noun_similarity, wordnet_synonyms, wordsim353",
    ):
        load_similarity("simlex")
    with pytest.raises(ValueError, match=r"Unknown split 'validation'.*train, valid, test, all"):
        load_text("shakespeare_tiny", "validation")
    with pytest.raises(ValueError, match="no split column"):
        load_table("wordnet_synonyms", "train")


def test_corrupted_file_is_refused_with_the_rebuild_command(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path, monkeypatch, ["shakespeare_tiny"])
    path = folder / "shakespeare" / "shakespeare_tiny.txt"
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"corrupted.*build_data.py --only shakespeare_tiny"):
        load_text("shakespeare_tiny")


def test_truncated_gzip_is_refused(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path, monkeypatch, ["tang_poems_5char"])
    path = folder / "poems" / "tang_poems_5char.txt.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataFileError, match="truncated or modified"):
        load_text("tang_poems_5char")


def test_damaged_gzip_with_matching_manifest_is_explained(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path, monkeypatch, ["tang_poems_5char"])
    path = folder / "poems" / "tang_poems_5char.txt.gz"
    _rewrite(folder, "tang_poems_5char", path.read_bytes()[:5000])
    with pytest.raises(DataFileError, match=r"could not be read.*--only tang_poems_5char"):
        load_text("tang_poems_5char")


def test_empty_file_is_explained(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path, monkeypatch, ["wordnet_gloss10"])
    _rewrite(folder, "wordnet_gloss10", b"")
    with pytest.raises(DataFileError, match=r"is empty.*--only wordnet_gloss10"):
        load_labelled("wordnet_gloss10", "train")


def test_ragged_tsv_names_the_line(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path, monkeypatch, ["bible_kjv_web"])
    text = gzip.decompress((folder / "bible" / "bible_kjv_web.tsv.gz").read_bytes()).decode()
    lines = text.split("\n")
    lines[3] = lines[3].replace("\t", " ", 1)
    _rewrite(folder, "bible_kjv_web", gzip.compress("\n".join(lines).encode(), compresslevel=1))
    with pytest.raises(DataFileError, match=r"line 4: 5 fields, expected 6"):
        load_pairs("bible_kjv_web", "train")


# --- the manifest and the folder -------------------------------------------------------------


def test_every_data_file_is_in_the_manifest_and_the_folder_is_small(real_data):
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
    listed = {e["path"] for e in manifest["files"].values()}
    on_disk = {
        str(p.relative_to(DATA))
        for p in DATA.rglob("*")
        if p.is_file() and p.name not in {"manifest.json", "README.md"}
    }
    assert on_disk == listed
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 25 * 2**20  # 25 MiB: the corpora, GPT-2's tokenizer and two sets of weights
    for entry in manifest["files"].values():
        assert set(entry) == {"path", "sha256", "size", "source", "license", "description"}
        assert entry["license"] and entry["source"]
        if entry["size"] > 1_100_000:
            assert entry["path"].endswith(".gz"), f"{entry['path']} should be compressed"
    assert all(s.ok for s in bundled.verify_all())


def test_datasheet_describes_every_file(real_data):
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
    for name, entry in manifest["files"].items():
        assert f"`{name}`" in readme, f"data/README.md does not describe {name}"
        assert entry["path"] in readme
    assert "licenses/WORDNET_LICENSE.txt" in readme
