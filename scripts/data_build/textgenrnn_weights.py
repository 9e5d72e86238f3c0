"""textgenrnn's pretrained character LSTM, from PyPI ``textgenrnn==2.0.0`` (chapter 08).

textgenrnn (Max Woolf, MIT) ships one pretrained model inside its package:
``textgenrnn/textgenrnn_weights.hdf5`` (Keras 2.1.5, trained on Reddit submission titles) and
``textgenrnn/textgenrnn_vocab.json`` (464 characters -> ids 1..464; id 0 is the padding). PyPI has
only the sdist of 2.0.0 (no wheel); both files are byte-identical to the ones in the GitHub tag
v2.0.0 (commit 905c990), and their sha256 are pinned below.

The model (textgenrnn/model.py): an embedding 465 x 100, two LSTM-128 layers that return every
step, the embedding and both layers' outputs concatenated (356 features per step), an
attention-weighted average over the 40 steps (textgenrnn/AttentionWeightedAverage.py, from
DeepMoji) and a dense softmax over the 465 ids. It reads the previous 40 ids, left-padded with 0;
a text is ``<s>`` + its characters + ``<s>`` (``<s>`` is id 464, the start and end token).

The LSTMs were trained as Keras ``CuDNNLSTM``: their weights are cuDNN's, spelled in Keras's
shapes. Per gate (order i, f, c, o, as PyTorch's i, f, g, o), the input kernel block ``k`` of
shape ``(I, H)`` holds the cuDNN matrix ``(H, I)`` in row-major order, so PyTorch's block is
``k.reshape(H, I)``, not ``k.T``; the recurrent block ``r`` ``(H, H)`` is PyTorch's block as it
stands; the bias ``(8H,)`` is cuDNN's input bias then its recurrent bias, exactly PyTorch's
``bias_ih`` and ``bias_hh`` (Keras's own LSTM, with one bias, sums them). The conversion below
writes PyTorch's layout: ``weight_ih (4H, I)``, ``weight_hh (4H, H)``, ``bias_ih``, ``bias_hh``.

The reference losses are computed here a second way, in float64 numpy straight from the hdf5
arrays: Keras's own conversion of CuDNNLSTM weights for a plain LSTM (keras/engine/saving.py,
``preprocess_weights_for_loading``: per gate ``k.T.reshape(k.shape, order='F')``, recurrent
``r.T``, the two biases summed) and Keras's LSTM equations, ``z = x K + h R + b``. The bundled
file stores those numbers; ``tests/test_textgenrnn.py`` checks coursekit's model against them.

Output: one safetensors file (float32, little-endian, tensors sorted by name, written here so
two runs give the same bytes), gzip'd; its ``__metadata__`` holds the vocabulary, the context
length, the end token, the reference losses, source and license. Build-only needs: ``h5py``
(pinned in ``H5PY``; installed with ``pip --target`` into the build cache by ``build_tool``, never
into the course environment). ``build(sdist=...)`` reuses an sdist already on disk; so does a copy
in ``$COURSEKIT_BUILD_CACHE/downloads``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from data_build.common import Output, build_tool, pypi_file, read_member, sha256_bytes

__all__ = [
    "REFERENCE_SENTENCES",
    "build",
    "convert",
    "cudnn_lstm_to_torch",
    "keras_nats_per_char",
    "safetensors_bytes",
]

REQUIREMENT = "textgenrnn==2.0.0"
SDIST = "textgenrnn-2.0.0.tar.gz"
SDIST_SHA256 = "c2b6f1c201c76d5a6021079e95a8db499bbe15d9f3448d33cb51c0cd496c86f8"
WEIGHTS = "textgenrnn-2.0.0/textgenrnn/textgenrnn_weights.hdf5"
WEIGHTS_SHA256 = "6a89ca4235ed9f00be7b2acd65d5fe4a099967d676bfe20afb696106286ffbca"
VOCAB = "textgenrnn-2.0.0/textgenrnn/textgenrnn_vocab.json"
VOCAB_SHA256 = "f9c6c0db9b07fb57da023d32df66e16a488d086c138e15706307bb5177c2be74"
H5PY = "h5py==3.16.0"

HIDDEN, CONTEXT, END_TOKEN = 128, 40, "<s>"  # textgenrnn.py's config and META_TOKEN
EPSILON = 1e-7  # Keras's K.epsilon(), in AttentionWeightedAverage's denominator
# Fixed English sentences, written for this check (not from the training data).
REFERENCE_SENTENCES = (
    "What is the best way to learn a new language?",
    "TIL that the first computer programmer was a woman",
    "The quick brown fox jumps over the lazy dog.",
)

SOURCE = (
    f"PyPI {REQUIREMENT} (sdist {SDIST}, sha256 {SDIST_SHA256}: textgenrnn/textgenrnn_weights.hdf5 "
    "and textgenrnn_vocab.json, as in github.com/minimaxir/textgenrnn tag v2.0.0)"
)
LICENSE = (
    "MIT (textgenrnn, Copyright (c) 2017-2020 Max Woolf; its attention layer from DeepMoji, "
    "Copyright (c) 2017 Bjarke Felbo, Han Thi Nguyen). The notices are in "
    "licenses/TEXTGENRNN_LICENSE.txt."
)

# github.com/minimaxir/textgenrnn, LICENSE at tag v2.0.0 (commit 905c990), quoted because the sdist
# says only "License: MIT" (PKG-INFO) and carries no license file.
TEXTGENRNN_LICENSE = """\
MIT License

Copyright (c) 2017-2020 Max Woolf

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.

---

MIT License

Copyright (c) 2017 Bjarke Felbo, Han Thi Nguyen

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def _checked(data: bytes, sha256: str, name: str) -> bytes:
    actual = sha256_bytes(data)
    if actual != sha256:
        raise SystemExit(f"{SDIST}: {name} has sha256 {actual}, expected {sha256}.")
    return data


def read_hdf5(data: bytes) -> dict[str, np.ndarray]:
    """Every array of a Keras weights file, by its hdf5 path (``rnn_1/rnn_1/kernel:0``)."""
    build_tool(H5PY, "h5py")
    import h5py

    arrays: dict[str, np.ndarray] = {}

    def keep(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            arrays[name] = obj[()]

    with h5py.File(io.BytesIO(data), "r") as fh:
        fh.visititems(keep)
    return arrays


def cudnn_lstm_to_torch(
    kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> dict[str, np.ndarray]:
    """One Keras CuDNNLSTM layer in PyTorch's layout (gate order i, f, g, o in both).

    Shape:
        kernel ``(I, 4H)``, recurrent ``(H, 4H)``, bias ``(8H,)`` -> ``weight_ih_l0 (4H, I)``,
        ``weight_hh_l0 (4H, H)``, ``bias_ih_l0 (4H,)``, ``bias_hh_l0 (4H,)``.

    >>> k = np.arange(24.0).reshape(3, 8)  # I = 3, H = 2: gate i's block is k[:, :2]
    >>> torch_layout = cudnn_lstm_to_torch(k, np.zeros((2, 8)), np.zeros(16))
    >>> torch_layout["weight_ih_l0"][:2].tolist()  # k[:, :2].T would be [[0, 8, 16], [1, 9, 17]]
    [[0.0, 1.0, 8.0], [9.0, 16.0, 17.0]]
    """
    inputs, hidden = kernel.shape[0], recurrent.shape[0]
    w_ih = [k.reshape(hidden, inputs) for k in np.hsplit(kernel, 4)]  # 4 x (H, I), cuDNN's order
    w_hh = np.hsplit(recurrent, 4)  # 4 x (H, H), already (out, in)
    return {
        "weight_ih_l0": np.concatenate(w_ih),  # (4H, I)
        "weight_hh_l0": np.concatenate(w_hh),  # (4H, H)
        "bias_ih_l0": bias[: 4 * hidden],
        "bias_hh_l0": bias[4 * hidden :],
    }


def convert(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """textgenrnn's hdf5 arrays (by hdf5 path) as coursekit's ``TextGenRNN`` state dict."""
    tensors = {
        "embedding.weight": arrays["embedding/embedding/embeddings:0"],  # (V, C)
        "attention.weight": arrays["attention/attention/attention_W:0"].T,  # (1, F)
        "head.weight": arrays["output/output/kernel:0"].T,  # (V, F)
        "head.bias": arrays["output/output/bias:0"],  # (V,)
    }
    for layer, name in enumerate(("rnn_1", "rnn_2")):
        p = f"{name}/{name}/"
        converted = cudnn_lstm_to_torch(
            arrays[p + "kernel:0"], arrays[p + "recurrent_kernel:0"], arrays[p + "bias:0"]
        )
        tensors.update({f"lstms.{layer}.{k}": v for k, v in converted.items()})
    return tensors


def _keras_lstm(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> np.ndarray:
    """Keras's LSTM (recurrent_activation='sigmoid') on CuDNNLSTM weights converted as Keras does.

    Shape:
        x ``(B, T, I)`` -> every step's h ``(B, T, H)``.
    """
    hidden = recurrent.shape[0]
    k = np.hstack([g.T.reshape(g.shape, order="F") for g in np.hsplit(kernel, 4)])  # (I, 4H)
    r = np.hstack([g.T for g in np.hsplit(recurrent, 4)])  # (H, 4H)
    b = bias[: 4 * hidden] + bias[4 * hidden :]  # (4H,)
    h = np.zeros((x.shape[0], hidden))
    c = np.zeros_like(h)
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ r + b  # (B, 4H)
        i, f, g, o = (z[:, j * hidden : (j + 1) * hidden] for j in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def keras_nats_per_char(arrays: dict[str, np.ndarray], vocab: dict[str, int], text: str) -> float:
    """Mean negative log-likelihood (nats) of ``text``'s characters and the end token ``<s>``.

    A float64 numpy forward of textgenrnn's model on the original hdf5 arrays, window by window
    as textgenrnn's training does: the text is ``<s>`` + its characters + ``<s>``, each id is
    predicted from the 40 before it, left-padded with 0.
    """
    a = {name: np.asarray(v, dtype=np.float64) for name, v in arrays.items()}
    seq = [vocab[END_TOKEN], *(vocab[ch] for ch in text), vocab[END_TOKEN]]
    windows = [[0] * max(0, CONTEXT - t) + seq[max(0, t - CONTEXT) : t] for t in range(1, len(seq))]
    x = a["embedding/embedding/embeddings:0"][np.array(windows)]  # (N, 40, 100)
    layers = [x]
    for name in ("rnn_1", "rnn_2"):
        p = f"{name}/{name}/"
        weights = (a[p + "kernel:0"], a[p + "recurrent_kernel:0"], a[p + "bias:0"])
        layers.append(_keras_lstm(layers[-1], *weights))  # (N, 40, 128)
    seq_concat = np.concatenate(layers, axis=-1)  # (N, 40, 356)
    logits = (seq_concat @ a["attention/attention/attention_W:0"])[..., 0]  # (N, 40)
    ai = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights = ai / (ai.sum(axis=-1, keepdims=True) + EPSILON)  # (N, 40)
    pooled = (seq_concat * weights[..., None]).sum(axis=1)  # (N, 356)
    out = pooled @ a["output/output/kernel:0"] + a["output/output/bias:0"]  # (N, 465)
    out -= out.max(axis=-1, keepdims=True)
    log_probs = out - np.log(np.exp(out).sum(axis=-1, keepdims=True))
    targets = np.array(seq[1:])
    return float(-log_probs[np.arange(len(targets)), targets].mean())


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """A safetensors file (float32, tensors in name order): the same input gives the same bytes.

    The format: an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
    byte offsets; ``__metadata__`` -> strings), padded with spaces to 8 bytes, then the data.

    >>> raw = safetensors_bytes({"w": np.ones((2, 3))}, {"k": "v"})
    >>> int.from_bytes(raw[:8], "little") % 8, len(raw) - 8 - int.from_bytes(raw[:8], "little")
    (0, 24)
    """
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def build(sdist: Path | None = None) -> list[Output]:
    if sdist is None:
        sdist = pypi_file(SDIST, REQUIREMENT, SDIST_SHA256)
    else:
        _checked(Path(sdist).read_bytes(), SDIST_SHA256, SDIST)
    arrays = read_hdf5(_checked(read_member(sdist, WEIGHTS), WEIGHTS_SHA256, WEIGHTS))
    vocab = json.loads(_checked(read_member(sdist, VOCAB), VOCAB_SHA256, VOCAB).decode("utf-8"))
    itos = [""] * (len(vocab) + 1)  # id 0 is the padding, never a character
    for ch, i in vocab.items():
        itos[i] = ch
    assert len(vocab) == 464 and sorted(vocab.values()) == list(range(1, 465)), len(vocab)
    assert vocab[END_TOKEN] == 464, vocab[END_TOKEN]

    tensors = convert(arrays)
    # every hdf5 array is used once (each LSTM's bias split in two)
    assert len(tensors) == len(arrays) + 2 and all(v.dtype == np.float32 for v in arrays.values())

    reference = [keras_nats_per_char(arrays, vocab, s) for s in REFERENCE_SENTENCES]
    for sentence, nats in zip(REFERENCE_SENTENCES, reference, strict=True):
        print(f"  {nats:.6f} nats/char  {sentence!r}", flush=True)
    assert all(0.3 < n < 2.5 for n in reference), reference  # a wrong layout gives > 3
    metadata = {
        "format": "coursekit-textgenrnn-1",
        "source": SOURCE,
        "license": LICENSE,
        "vocab": json.dumps(itos),
        "end_token": END_TOKEN,
        "context": str(CONTEXT),
        "reference": json.dumps(
            {
                "sentences": list(REFERENCE_SENTENCES),
                "nats_per_char": reference,
                "how": "float64 numpy forward of the original hdf5 arrays in Keras's layout "
                "(scripts/data_build/textgenrnn_weights.py, keras_nats_per_char); the mean over "
                "each character and the final <s>",
            }
        ),
    }
    notice = (
        "textgenrnn's pretrained weights and vocabulary: license notices\n\n"
        "data/textgenrnn/textgenrnn.safetensors.gz holds the weights of textgenrnn_weights.hdf5\n"
        f"(sha256 {WEIGHTS_SHA256}), converted to PyTorch's layout,\n"
        f"and the vocabulary of textgenrnn_vocab.json (sha256 {VOCAB_SHA256}),\n"
        f"both taken from the PyPI sdist {REQUIREMENT} (sha256 {SDIST_SHA256}).\n"
        "Its PKG-INFO says 'License: MIT'; the notices below are the LICENSE file of\n"
        "https://github.com/minimaxir/textgenrnn at tag v2.0.0 (the second covers the\n"
        "attention layer, from DeepMoji):\n\n" + TEXTGENRNN_LICENSE
    )
    return [
        Output(
            "textgenrnn",
            "textgenrnn/textgenrnn.safetensors.gz",
            safetensors_bytes(tensors, metadata),
            SOURCE,
            LICENSE,
            "textgenrnn's pretrained character LSTM (Reddit titles): gzip'd safetensors, float32, "
            "PyTorch's LSTM layout (embedding, lstms.0/1, attention, head; 462,717 parameters); "
            "metadata: the 465-id vocabulary, context 40, end token <s>, reference losses.",
        ),
        Output(
            "textgenrnn_license",
            "licenses/TEXTGENRNN_LICENSE.txt",
            notice,
            SOURCE + " and github.com/minimaxir/textgenrnn (LICENSE, tag v2.0.0)",
            LICENSE,
            "The MIT notices that must accompany textgenrnn.",
        ),
    ]
