"""The maintainers' data build (scripts/build_data.py): its cleaning rules and its determinism.

The build itself needs the package registries and is not run here; these tests check the pure
functions it is made of, offline.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from data_build import bible, poems, wordnet  # noqa: E402
from data_build.common import Output  # noqa: E402

from coursekit.data.corpora import stable_split  # noqa: E402


def test_osis_cleaning_keeps_words_apart():
    raw = (
        '<w lemma="strong:H0430">God</w><note placement="foot"><reference>1:1 </reference>'
        'The Hebrew word rendered “God” is “אֱלֹהִ֑ים”.</note><w lemma="x">created</w> the '
        '<transChange type="added">earth</transChange>. <div eID="gen3" type="x-p"/>'
    )
    assert bible.clean_osis(raw) == "God created the earth."


def test_osis_cleaning_drops_editorial_titles_but_keeps_psalm_superscriptions():
    raw = (
        '<title type="section">A heading</title><title canonical="true" type="psalm">A Psalm '
        'of David.</title> <l level="1" sID="a"/><divineName>LORD</divineName>, how '
        '<l eID="a"/>\n<l sID="b"/>many<l eID="b"/>'
    )
    assert bible.clean_osis(raw) == "A Psalm of David. LORD, how many"


def test_osis_cleaning_removes_usfm_leftovers_and_pilcrows():
    assert bible.clean_osis("¶ by my name \\nd JEHOVAH was I not known") == (
        "by my name JEHOVAH was I not known"
    )
    assert bible.clean_osis("“ Hello ” , he said ( softly ) .") == "“Hello”, he said (softly)."


def test_spanish_drift_detection_and_drop_caps():
    english = [5, 20, 8, 30, 12, 25, 9, 14]
    assert bible.spanish_chapter_ok(english, [n + 2 for n in english], missing=0)
    shifted = [*english[1:], 10]  # Spanish verse v holds English verse v + 1
    assert not bible.spanish_chapter_ok(english, shifted, missing=0)
    assert not bible.spanish_chapter_ok(english, [10] * 7 + [11], missing=0)  # no correlation
    fair = ([5, 20, 8, 30, 12, 25, 9], [12, 20, 15, 22, 9, 14, 10])  # r = 0.72
    assert bible.spanish_chapter_ok(*fair, missing=0)
    assert not bible.spanish_chapter_ok(*fair, missing=1)  # verses missing: needs r >= 0.8
    assert bible.spanish_drop_cap("DESPUÉS de estas cosas") == "Después de estas cosas"
    assert bible.spanish_drop_cap("Y ABRAHAM era viejo", frozenset({"Abraham"})) == (
        "Y Abraham era viejo"
    )
    assert bible.spanish_drop_cap("Y acaeció") == "Y acaeció"


def test_web_glossary_is_cut_after_amen():
    text = "The grace of the Lord Jesus Christ be with all the saints. Amen. Glossary Abaddon ..."
    assert bible._cut_glossary(text).endswith("saints. Amen.")


def test_chapter_split_is_stable_and_whole_chapter():
    assert bible.chapter_split("Gen", 1) == bible.chapter_split("Gen", 1)
    splits = [bible.chapter_split("Ps", c) for c in range(1, 151)]
    assert set(splits) == {"train", "valid", "test"}


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", "五绝"),
        ("朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。", "七绝"),
        ("白日依山尽，黄河入海流。欲穷千里目，更上一层。", None),  # ragged
        ("白日依山尽，黄河入海流。欲穷千里目，更上一□楼。", None),  # gap mark
        ("白日依山尽，黄河入海流。", None),  # two lines
        ("白日依山尽，黄河入海流。欲穷千里目，更上一层楼", None),  # no final stop
    ],
)
def test_poem_form(text, form):
    assert poems.poem_form(text) == form


def test_poem_split_matches_the_loader_rule():
    for text in ("床前明月光", "白日依山尽", "春眠不觉晓", "x", "y", "z"):
        assert poems.poem_split(text) == stable_split(text)


def test_wordnet_definition_and_wu_palmer():
    assert wordnet.definition('a domestic animal; "the dog barked"; kept as a pet') == (
        "a domestic animal; kept as a pet"
    )
    a = {"dog": 4, "canine": 3, "animal": 2, "entity": 1}
    b = {"cat": 4, "feline": 3, "animal": 2, "entity": 1}
    assert wordnet.wu_palmer(a, b) == 0.5
    assert wordnet.wu_palmer(a, a) == 1.0
    assert wordnet.wu_palmer(a, {"x": 1}) == 0.0


def test_gzip_output_is_byte_identical_and_has_no_name_or_time():
    out = Output("x", "x/x.txt.gz", "héllo\n" * 100, "src", "lic", "desc")
    first, second = out.payload(), out.payload()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # mtime 0
    assert first[3] & 0x08 == 0  # no FNAME flag
    assert gzip.decompress(first).decode() == "héllo\n" * 100
    plain = Output("y", "y.txt", "abc\n", "src", "lic", "desc")
    assert plain.payload() == b"abc\n"


def test_build_script_refuses_unknown_names():
    import build_data

    with pytest.raises(SystemExit, match="Unknown name"):
        build_data.run(["shakespeare_huge"], check=False)
    names = {n for names in build_data.BUILDERS.values() for n in names}
    import json

    manifest = json.loads((SCRIPTS.parent / "data" / "manifest.json").read_text())
    assert set(manifest["files"]) == names
