"""Chapter 06's stored translator (``coursekit.translator``): a tiny recipe trained, exported and
loaded back, the loader's errors, and the bundled model's claims (it beats both baselines)."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
import torch

from coursekit.translation import SubstitutionBaseline, copy_baseline, score, translate
from coursekit.translator import (
    FORMAT,
    RECIPES_TRIED,
    TranslatorRecipe,
    export_translator,
    load_translator,
    train_translator,
)

TINY = TranslatorRecipe(
    embed_dim=16, hidden_size=32, steps=12, warmup=2, eval_every=6, batch_size=16, max_tokens=20
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    model, task, results = train_translator(TINY)
    out = export_translator(model, TINY, results, tmp_path_factory.mktemp("translator"))
    return model, task, results, out


@pytest.fixture(scope="module")
def bundled():
    return load_translator()


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="warmup"):
        TranslatorRecipe(steps=10, warmup=10)
    with pytest.raises(ValueError, match="lr must be a number"):
        TranslatorRecipe(lr=-1.0)
    with pytest.raises(ValueError, match="embed_dim"):
        TranslatorRecipe(embed_dim=0)


def test_training_keeps_the_best_evaluation_and_reports_it(tiny):
    _, _, results, _ = tiny
    steps = [p["step"] for p in results["curve"]]
    assert steps == [6, 12]
    best = max(results["curve"], key=lambda p: p["BLEU"])
    assert results["best_step"] == best["step"]
    assert results["vocabulary"]["size"] == 6634  # the chapter's vocabulary


def test_export_round_trip_translates_the_same(tiny):
    model, task, results, out = tiny
    loaded = load_translator(out)
    assert loaded.recipe == TINY and loaded.results == json.loads(json.dumps(results))
    sources = [s for s, _ in task.test[:40]]
    assert translate(loaded.model, task, sources) == translate(model, task, sources)
    record = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert record["format"] == FORMAT and record["parameters"] == sum(
        p.numel() for p in model.parameters()
    )
    assert "python -m coursekit.translator --out" in (out / "MODEL_CARD.md").read_text("utf-8")


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_loader_errors_name_the_file_and_the_fix(tiny, tmp_path):
    *_, out = tiny
    missing = _copy(out, tmp_path / "missing")
    (missing / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors is missing.*--out"):
        load_translator(missing)

    other = _copy(out, tmp_path / "other")
    record = json.loads((other / "config.json").read_text(encoding="utf-8"))
    (other / "config.json").write_text(json.dumps({**record, "format": "x"}), encoding="utf-8")
    with pytest.raises(ValueError, match="has format 'x'"):
        load_translator(other)

    vocab = _copy(out, tmp_path / "vocab")
    record["results"]["vocabulary"]["sha256"] = "0" * 64
    (vocab / "config.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ValueError, match=r"another vocabulary.*Train it again"):
        load_translator(vocab)

    shape = _copy(out, tmp_path / "shape")
    wrong = json.loads((out / "config.json").read_text(encoding="utf-8"))
    wrong["model"]["hidden_size"] = 64
    (shape / "config.json").write_text(json.dumps(wrong), encoding="utf-8")
    with pytest.raises(ValueError, match=r"does not fit the model.*wrong shapes"):
        load_translator(shape)

    cut = _copy(out, tmp_path / "cut")
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_translator(cut)

    zipped = _copy(out, tmp_path / "zipped")  # the bundled layout: model.safetensors.gz
    raw = (zipped / "model.safetensors").read_bytes()
    (zipped / "model.safetensors").unlink()
    (zipped / "model.safetensors.gz").write_bytes(gzip.compress(raw))
    assert load_translator(zipped).recipe == TINY


def test_bundled_translator_scores_what_its_card_says(bundled):
    task = bundled.task
    for split in ("valid", "test"):
        src, ref = map(list, zip(*task.pairs(split), strict=True))
        live = score(translate(bundled.model, task, src), ref)
        for metric in ("BLEU", "chrF"):
            assert abs(live[metric] - bundled.results[split][metric]) < 0.05, (split, metric)


def test_bundled_translator_beats_both_baselines(bundled):
    """Chapter 06's claim: the longer-trained attention model beats copying and the
    word-substitution table on both held-out splits."""
    task = bundled.task
    table = SubstitutionBaseline(task.train)
    for split in ("valid", "test"):
        src, ref = map(list, zip(*task.pairs(split), strict=True))
        best_baseline = max(
            score(copy_baseline(src), ref)["BLEU"], score(table.translate(src), ref)["BLEU"]
        )
        assert bundled.results[split]["BLEU"] > best_baseline, split


def test_the_default_recipe_is_the_best_tried_on_validation(bundled):
    best = max(RECIPES_TRIED, key=lambda r: r["valid_BLEU"])
    recipe = TranslatorRecipe()
    for field in ("dropout", "embed_dim", "hidden_size", "lr", "steps"):
        assert getattr(recipe, field) == best[field], field
    assert bundled.recipe == recipe
    assert round(bundled.results["valid"]["BLEU"], 1) == best["valid_BLEU"]
    assert round(bundled.results["test"]["BLEU"], 1) == best["test_BLEU"]
