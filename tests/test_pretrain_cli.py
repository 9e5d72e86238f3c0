"""``python -m coursekit pretrain``: a tiny run end to end, exact resume, the export and its
loader, the bundled pretrained model, and the errors (chapters 08-10)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from coursekit.cli import main
from coursekit.data.corpora import load_labelled
from coursekit.pretrain import (
    PretrainConfig,
    WorkFolderError,
    corpus_text,
    load_pretrained,
    model_config,
    pretrain,
)

TINY = PretrainConfig(
    corpora=("shakespeare_tiny",),
    vocab_size=300,
    context_size=32,
    embed_dim=32,
    num_heads=2,
    num_layers=1,
    batch_size=4,
    steps=6,
    warmup=2,
    eval_every=3,
    eval_batches=2,
    checkpoint_every=2,
)


def _weights(folder):
    return load_file(folder / "model.safetensors")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain")
    results = pretrain(TINY, folder / "work", folder / "out", verbose=False)
    return folder, results


def test_tiny_run_learns_exports_and_loads(tiny_run):
    folder, results = tiny_run
    assert results["finished"] and results["steps"] == 6
    assert results["valid_loss"] < torch.log(torch.tensor(300.0)).item()  # below uniform
    model, tok = loaded = load_pretrained(folder / "out")
    assert model.config == model_config(TINY, tok.vocab_size)
    assert loaded.config == TINY and loaded.results["steps"] == 6
    assert not model.training
    ids = torch.tensor([tok.encode("To be, or not to be")])
    assert model(ids).shape == (1, ids.shape[1], 300)
    card = (folder / "out" / "MODEL_CARD.md").read_text()
    assert "python -m coursekit pretrain" in card and "--vocab-size 300" in card


def test_stopped_run_resumes_to_the_same_weights(tiny_run, tmp_path):
    folder, _ = tiny_run
    first = pretrain(TINY, tmp_path / "w", tmp_path / "o", time_limit=1e-6, verbose=False)
    assert not first["finished"] and first["steps"] < TINY.steps
    assert not (tmp_path / "o").exists()  # nothing exported before the last step
    again = pretrain(TINY, tmp_path / "w", tmp_path / "o", verbose=False)
    assert again["finished"]
    a, b = _weights(folder / "out"), _weights(tmp_path / "o")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_another_run_in_the_same_work_folder_is_refused(tiny_run):
    folder, _ = tiny_run
    with pytest.raises(ValueError, match=r"other settings.*lr"):
        pretrain(dataclasses.replace(TINY, lr=1e-3), folder / "work", verbose=False)


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_load_pretrained_names_what_does_not_fit(tiny_run, tmp_path):
    out = tiny_run[0] / "out"
    bad = _copy(out, tmp_path / "bad")
    state = load_file(bad / "model.safetensors")
    state["extra.weight"] = torch.zeros(2)
    state["tok.weight"] = torch.zeros(301, 32, dtype=torch.float16)
    del state["norm.weight"]
    save_file(state, bad / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"missing \['norm.weight'\].*unexpected \['extra.weight'\].*tok.weight: file \(301, 32\)",
    ):
        load_pretrained(bad)
    (bad / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json is missing"):
        load_pretrained(bad)
    other = _copy(out, tmp_path / "other")
    record = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**record, "format": "hf"}))
    with pytest.raises(ValueError, match=r"not written by coursekit\.pretrain\.export"):
        load_pretrained(other)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown corpora \\['shakespeare'\\]"):
        PretrainConfig(corpora=("shakespeare",))
    with pytest.raises(ValueError, match="recipe"):
        PretrainConfig(recipe="bert")
    with pytest.raises(ValueError, match="num_heads=5 does not divide"):
        PretrainConfig(num_heads=5)
    with pytest.raises(TypeError, match="corpora must be a non-empty tuple"):
        PretrainConfig(corpora="bible_web")


def test_held_out_glosses_are_never_pretraining_text():
    train = set(corpus_text("wordnet_gloss10", "train"))
    held_out = {
        text for split in ("valid", "test") for text, _ in load_labelled("wordnet_gloss10", split)
    }
    assert len(train) > 4000 and len(held_out) == 1200
    assert not train & held_out
    for split in ("valid", "test"):
        with pytest.raises(ValueError, match="held-out"):
            corpus_text("wordnet_gloss10", split)


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for field in dataclasses.fields(PretrainConfig):
        assert f"--{field.name.replace('_', '-')}" in text
    assert "resumes" in text and "--out" in text


def test_cli_rejects_a_bad_value_with_the_reason(capsys, tmp_path):
    assert main(["pretrain", "--num-heads", "5", "--work", str(tmp_path)]) == 2
    assert "num_heads=5 does not divide" in capsys.readouterr().err


def test_the_bundled_model_scores_as_its_record_says():
    """The shipped weights (float16) give the validation loss that training measured."""
    from coursekit.pretrain import _documents, _fixed_batches, _token_stream
    from coursekit.train import evaluate

    course = load_pretrained()  # data/course_gpt, sha256-checked
    assert course.config == PretrainConfig()  # shipped with the defaults, as the card says
    assert course.results["finished"] and course.results["steps"] == course.config.steps
    valid = _token_stream(course.tokenizer, _documents(course.config, "valid"))
    assert len(valid) == course.results["valid_tokens"]
    loss = evaluate(course.model, _fixed_batches(valid, course.config))  # float32 arithmetic
    # the record is the float32 model's loss on the same batches; float16 storage moves it ~1e-5
    assert abs(loss - course.results["valid_loss"]) < 1e-3, (loss, course.results["valid_loss"])
    assert loss < 0.6 * torch.log(torch.tensor(float(course.tokenizer.vocab_size))).item()


def test_compile_trains_the_compiled_model_and_saves_the_plain_one(tmp_path, monkeypatch):
    compiled = []

    def fake_compile(model):  # torch.compile's contract: a module that runs like the model
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    config = dataclasses.replace(TINY, steps=2, eval_every=2, checkpoint_every=2)
    results = pretrain(config, tmp_path / "w", verbose=False, compile=True)
    assert len(compiled) == 1 and results["compiled"] and results["precision"] == "auto"
    assert results["device"] == "cpu" and results["processes"] == 1


def test_batches_are_pinned_only_for_a_gpu():
    from coursekit.data.batching import LMWindows, make_loader
    from coursekit.pretrain import _Batches

    assert make_loader(LMWindows(list(range(20)), 4), 2).pin_memory is torch.cuda.is_available()
    assert not make_loader(LMWindows(list(range(20)), 4), 2, pin_memory=False).pin_memory
    x, y = _Batches(torch.arange(100), 2, 8, seed=0)(0)
    assert not x.is_pinned() and torch.equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="fewer than one window"):
        _Batches(torch.arange(5), 2, 8, seed=0)


@pytest.mark.parametrize("bf16_pays", [False, True])
def test_auto_precision_on_a_bf16_cpu_is_measured_once_and_changes_nothing_else(
    tmp_path, monkeypatch, bf16_pays
):
    from coursekit import device
    from coursekit import pretrain as module

    config = dataclasses.replace(TINY, dropout=0.1)  # so that measuring could use up RNG draws
    monkeypatch.setattr(device, "cpu_bf16_support", lambda: None)
    pretrain(config, tmp_path / "ref", tmp_path / "ref_out", verbose=False)  # fp32, unmeasured
    unmeasured = json.loads((tmp_path / "ref" / "precision.json").read_text())
    assert unmeasured["precision"] == "fp32" and unmeasured["fp32_seconds"] is None
    monkeypatch.setattr(device, "cpu_bf16_support", lambda: "AMX-BF16")  # emulated here: slow
    monkeypatch.setattr(device, "BF16_MIN_PARAMS", 0)
    monkeypatch.setattr(device, "BF16_PAYS", 0.0 if bf16_pays else float("inf"))
    first = pretrain(config, tmp_path / "w", tmp_path / "o", time_limit=1e-6, verbose=False)
    saved = json.loads((tmp_path / "w" / "precision.json").read_text())
    assert saved["fp32_seconds"] > 0 and saved["bf16_seconds"] > 0 and "AMX-BF16" in saved["why"]
    assert first["precision"] == "auto" and first["precision_used"] == saved["precision"]
    monkeypatch.setattr(module, "choose_precision", lambda *a, **k: pytest.fail("measured twice"))
    again = pretrain(config, tmp_path / "w", tmp_path / "o", verbose=False)  # the resumed try
    assert again["finished"] and again["precision_used"] == ("bf16" if bf16_pays else "fp32")
    fp32, mine = _weights(tmp_path / "ref_out"), _weights(tmp_path / "o")
    same = all(torch.equal(fp32[k], mine[k]) for k in fp32)
    assert same != bf16_pays  # measuring trained a copy: fp32 gives the unmeasured run's weights


def test_a_bf16_run_resumed_on_a_cpu_without_bf16_says_what_to_do(tmp_path, monkeypatch):
    from coursekit import device

    first = pretrain(TINY, tmp_path / "w", time_limit=1e-6, verbose=False)
    assert not first["finished"]
    path = tmp_path / "w" / "precision.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "precision": "bf16"}))  # as if begun on an AMX machine
    monkeypatch.setattr(device, "cpu_bf16_support", lambda: None)
    with pytest.raises(WorkFolderError, match=r"began in bf16.*has none.*--precision fp32"):
        pretrain(TINY, tmp_path / "w", verbose=False)
    assert pretrain(TINY, tmp_path / "w", verbose=False, precision="fp32")["finished"]
