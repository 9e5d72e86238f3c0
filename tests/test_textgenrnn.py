"""textgenrnn's pretrained LSTM on coursekit's layers (chapter 08): the conversion, the loss against
the build's numpy reference, sampling, and the errors a bad file gives. Offline: the bundled file
only, and tiny random weights for the converter."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from coursekit.data import bundled
from coursekit.data.bundled import DataFileError
from coursekit.nn.textgenrnn import (
    TextGenRNN,
    TextGenRNNConfig,
    TextGenRNNVocab,
    _read,
    generate_text,
    load_textgenrnn,
    nats_per_char,
    textgenrnn_reference,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from data_build.textgenrnn_weights import (
    REFERENCE_SENTENCES,
    convert,
    keras_nats_per_char,
    safetensors_bytes,
)

REBUILD = "python scripts/build_data.py --only textgenrnn"


@pytest.fixture(scope="module")
def pretrained():
    return load_textgenrnn()


@pytest.fixture(scope="module")
def bundled_tensors():
    tensors, metadata, _ = _read(None)
    return {k: v.numpy() for k, v in tensors.items()}, metadata


def _nats(tensors: dict[str, np.ndarray], vocab: TextGenRNNVocab, text: str) -> float:
    model = TextGenRNN()
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
    )
    return nats_per_char(model.eval(), vocab, text)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "teaching-loop"])
def test_loss_matches_the_numpy_reference_of_the_original_arrays(fused):
    model, vocab = load_textgenrnn(fused=fused)
    reference = textgenrnn_reference()
    assert list(reference) == list(REFERENCE_SENTENCES)
    for sentence, nats in reference.items():
        assert 0.5 < nats < 2.0, (sentence, nats)  # an English sentence, well predicted
        assert nats_per_char(model, vocab, sentence) == pytest.approx(nats, abs=1e-5), sentence
    assert nats_per_char(model, vocab, "Hello world", end=False) != nats_per_char(
        model, vocab, "Hello world"
    )


def test_the_converter_matches_keras_on_random_weights():
    """Keras's own CuDNNLSTM -> LSTM conversion (in numpy) and ours (into coursekit) agree."""
    rng = np.random.default_rng(0)
    v, c, h = 6, 3, 2
    shapes = {
        "embedding/embedding/embeddings:0": (v, c),
        "attention/attention/attention_W:0": (c + 2 * h, 1),
        "output/output/kernel:0": (c + 2 * h, v),
        "output/output/bias:0": (v,),
    }
    for name, width in (("rnn_1", c), ("rnn_2", h)):
        shapes |= {
            f"{name}/{name}/kernel:0": (width, 4 * h),
            f"{name}/{name}/recurrent_kernel:0": (h, 4 * h),
            f"{name}/{name}/bias:0": (8 * h,),
        }
    arrays = {name: rng.normal(size=s).astype(np.float32) for name, s in shapes.items()}
    vocab = {"a": 1, "b": 2, "c": 3, "d": 4, "<s>": 5}
    model = TextGenRNN(TextGenRNNConfig(vocab_size=v, embed_dim=c, hidden_size=h))
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(t)) for k, t in convert(arrays).items()}
    )
    ours = TextGenRNNVocab(("", "a", "b", "c", "d", "<s>"))
    text = "abcd" * 12  # longer than the 40-character window
    assert nats_per_char(model.eval(), ours, text) == pytest.approx(
        keras_nats_per_char(arrays, vocab, text), abs=1e-5
    )


def _naive(tensors: dict[str, np.ndarray], layout: bool, bias: bool) -> dict[str, np.ndarray]:
    """The usual mistakes: Keras's kernels just transposed, and one of cuDNN's two biases only."""
    out = dict(tensors)
    for layer in range(2):
        p = f"lstms.{layer}."
        w_ih, w_hh = tensors[p + "weight_ih_l0"], tensors[p + "weight_hh_l0"]
        hidden, inputs = w_hh.shape[1], w_ih.shape[1]
        if layout:
            kernel = np.hstack([g.reshape(inputs, hidden) for g in np.split(w_ih, 4)])  # as stored
            recurrent = np.hstack(np.split(w_hh, 4))
            out[p + "weight_ih_l0"], out[p + "weight_hh_l0"] = kernel.T, recurrent.T
        if bias:
            out[p + "bias_hh_l0"] = np.zeros_like(tensors[p + "bias_hh_l0"])
    return out


@pytest.mark.parametrize(
    ("layout", "bias"), [(True, True), (True, False), (False, True)], ids=["both", "layout", "bias"]
)
def test_a_naive_load_is_clearly_worse(pretrained, bundled_tensors, layout, bias):
    _, vocab = pretrained
    tensors, _ = bundled_tensors
    sentence = REFERENCE_SENTENCES[0]
    right = _nats(tensors, vocab, sentence)
    assert right == pytest.approx(textgenrnn_reference()[sentence], abs=1e-5)
    assert _nats(_naive(tensors, layout, bias), vocab, sentence) > right + 1.5


def test_sampling_is_seeded_and_reads_like_text(pretrained):
    model, vocab = pretrained

    def sample(seed: int, **kwargs) -> str:
        return generate_text(
            model, vocab, max_length=60, generator=torch.Generator().manual_seed(seed), **kwargs
        )

    first = sample(0)
    assert sample(0) == first
    assert len({first, sample(1), sample(2)}) > 1
    texts = [sample(s, temperature=[1.0, 0.5, 0.2, 0.2]) for s in range(3)] + [first]
    chars = "".join(texts)
    assert all(0 < len(t) <= 60 for t in texts) and "<s>" not in chars
    assert sum(ch.isprintable() for ch in chars) / len(chars) > 0.95
    assert sum(ch.isascii() and (ch.isalpha() or ch == " ") for ch in chars) / len(chars) > 0.8
    greedy = generate_text(model, vocab, "The", temperature=0, max_length=30)
    assert greedy == generate_text(model, vocab, "The", temperature=0, max_length=30)
    assert greedy.startswith("The ") and len(greedy) == 33  # greedy runs on: no end token


def test_sampling_and_scoring_refuse_bad_arguments(pretrained):
    model, vocab = pretrained
    with pytest.raises(ValueError, match=r"not in textgenrnn's vocabulary: \['\\n'\]"):
        nats_per_char(model, vocab, "two\nlines")
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate_text(model, vocab, temperature=-1.0)
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        generate_text(model, vocab, max_length=0)


def _write(tmp_path: Path, tensors: dict, metadata: dict) -> Path:
    path = tmp_path / "bad.safetensors.gz"
    path.write_bytes(gzip.compress(safetensors_bytes(tensors, metadata)))
    return path


def test_a_file_that_does_not_fit_names_every_problem(bundled_tensors, tmp_path):
    tensors, metadata = bundled_tensors
    bad = {k: v for k, v in tensors.items() if k != "head.bias"}
    bad["lstms.2.weight_ih_l0"] = tensors["lstms.1.weight_ih_l0"]
    bad["head.weight"] = tensors["head.weight"].T
    with pytest.raises(DataFileError) as err:
        load_textgenrnn(_write(tmp_path, bad, metadata))
    message = str(err.value)
    assert "missing tensors ['head.bias']" in message
    assert "unexpected tensors ['lstms.2.weight_ih_l0']" in message
    assert "head.weight has shape (356, 465), expected (465, 356)" in message
    assert "bad.safetensors.gz" in message and REBUILD in message


@pytest.mark.parametrize("problem", ["missing", "unexpected", "shape", "vocab", "format", "bytes"])
def test_each_bad_file_gets_its_own_error(bundled_tensors, tmp_path, problem):
    tensors, metadata = dict(bundled_tensors[0]), dict(bundled_tensors[1])
    expected = {
        "missing": r"missing tensors \['lstms.0.bias_hh_l0'\]",
        "unexpected": r"unexpected tensors \['extra'\]",
        "shape": r"embedding.weight has shape \(464, 100\), expected \(465, 100\)",
        "vocab": "the vocabulary has 464 ids, expected 465",
        "format": "metadata format None, expected 'coursekit-textgenrnn-1'",
        "bytes": "not a readable safetensors file",
    }[problem]
    if problem == "missing":
        del tensors["lstms.0.bias_hh_l0"]
    elif problem == "unexpected":
        tensors["extra"] = np.zeros(3, np.float32)
    elif problem == "shape":
        tensors["embedding.weight"] = tensors["embedding.weight"][:-1]
    elif problem == "vocab":
        metadata["vocab"] = json.dumps(json.loads(metadata["vocab"])[:-1])
    elif problem == "format":
        del metadata["format"]
    path = _write(tmp_path, tensors, metadata)
    if problem == "bytes":
        path.write_bytes(gzip.compress(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "))
    with pytest.raises(DataFileError, match=expected) as err:
        load_textgenrnn(path)
    assert REBUILD in str(err.value)


def test_the_bundled_file_is_in_the_manifest_and_verifies(monkeypatch):
    monkeypatch.delenv(bundled.DATA_DIR_ENV, raising=False)
    manifest = bundled.load_manifest()
    for name in ("textgenrnn", "textgenrnn_license"):
        entry = manifest[name]
        assert "textgenrnn==2.0.0" in entry.source and entry.license.startswith("MIT")
        assert bundled.bundled_path(name).stat().st_size == entry.size
    assert {s.name: s.ok for s in bundled.verify_all()}["textgenrnn"]
    notice = bundled.read_bundled_text("textgenrnn_license")
    assert "Copyright (c) 2017-2020 Max Woolf" in notice and "Bjarke Felbo" in notice


def test_the_writer_and_the_official_reader_agree(bundled_tensors):
    safetensors = pytest.importorskip("safetensors.numpy")
    tensors, metadata = bundled_tensors
    raw = safetensors_bytes(tensors, metadata)
    assert raw == safetensors_bytes(tensors, metadata)  # deterministic
    official = safetensors.load(raw)
    assert official.keys() == tensors.keys()
    assert all(np.array_equal(official[k], tensors[k]) for k in tensors)
