"""textgenrnn's pretrained character LSTM (chapter 08) on coursekit's LSTM: load, score, sample.

Max Woolf's textgenrnn (MIT; PyPI ``textgenrnn==2.0.0``) ships a character model trained on
Reddit submission titles. Its architecture (textgenrnn/model.py)::

    e = Embedding(ids)                                # (B, T, C), the last T = 40 characters
    h1 = LSTM_1(e);  h2 = LSTM_2(h1)                  # (B, T, H) each, every step kept
    x = concat(e, h1, h2)                             # (B, T, F), F = C + 2H: a skip connection
    a = softmax_t(x w)                                # (B, T), one score per step
    logits = head(sum_t a_t x_t)                      # (B, V): the next character

A text is ``<s>`` + its characters + ``<s>``: ``<s>`` starts a title and ends it. The bundled
weights (``data/textgenrnn``, built by ``scripts/data_build/textgenrnn_weights.py``) are the
original ones in PyTorch's LSTM layout; the build also stores the loss of a float64 numpy forward
of the original Keras arrays on a few sentences, which this module reproduces
(:func:`textgenrnn_reference`).

Shapes: B batch, T steps (the context window, 40), C embedding width (100), H hidden width (128),
F features per step (C + 2H = 356), V vocabulary (465 ids; 0 is the padding).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.data.bundled import REBUILD_COMMAND, DataFileError, bundled_path
from coursekit.nn._checks import (
    check_bool,
    check_config,
    check_int,
    check_positive,
    check_token_ids,
    strict_keywords,
)
from coursekit.nn.recurrent import LSTM

__all__ = [
    "AttentionWeightedAverage",
    "TextGenRNN",
    "TextGenRNNConfig",
    "TextGenRNNVocab",
    "generate_text",
    "load_textgenrnn",
    "nats_per_char",
    "textgenrnn_reference",
]

DATA = "textgenrnn"  # the bundled file (manifest name)
FORMAT = "coursekit-textgenrnn-1"
REBUILD = f"`{REBUILD_COMMAND} --only {DATA}`"
EPSILON = 1e-7  # Keras's K.epsilon(): in the attention's denominator and in textgenrnn's sampling


@strict_keywords
@dataclass(frozen=True)
class TextGenRNNConfig:
    """Sizes of a :class:`TextGenRNN`; the defaults are textgenrnn's pretrained model.

    Args:
        vocab_size: V, ids including the padding 0.
        embed_dim: C; hidden_size: H; num_layers: stacked LSTMs, all feeding the attention.
        context: T, the characters the model reads before each prediction.
        fused: run PyTorch's fused LSTM kernel instead of the teaching loop (same parameters).

    >>> TextGenRNNConfig().context, TextGenRNNConfig(hidden_size=8).hidden_size
    (40, 8)
    """

    vocab_size: int = 465
    embed_dim: int = 100
    hidden_size: int = 128
    num_layers: int = 2
    context: int = 40
    fused: bool = True

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers", "context"):
            check_int(owner, name, getattr(self, name))
        check_bool(owner, "fused", self.fused)


class AttentionWeightedAverage(nn.Module):
    """textgenrnn's (DeepMoji's) attention pooling: one learned score per step, a softmax over the
    steps, the weighted mean of the steps (chapter 08).

    ``a = exp(s - max s) / (sum exp(s - max s) + eps)`` with ``s_t = x_t · w``, as the Keras layer
    computes it (its ``eps`` is Keras's 1e-7).

    Args:
        features: F, the width of each step; the weight is ``(1, F)``, as ``nn.Linear(F, 1)``'s.

    Shape:
        x ``(B, T, F)`` -> ``(B, F)``, and the weights ``(B, T)`` with ``return_weights=True``.

    >>> pool = AttentionWeightedAverage(3); _ = nn.init.zeros_(pool.weight)  # equal scores
    >>> pooled, weights = pool(torch.tensor([[[1.0, 2, 3], [3, 4, 5]]]), return_weights=True)
    >>> pooled.round(decimals=4).tolist(), weights.round(decimals=4).tolist()  # the plain mean
    ([[2.0, 3.0, 4.0]], [[0.5, 0.5]])
    """

    def __init__(self, features: int, eps: float = EPSILON) -> None:
        super().__init__()
        check_int(type(self).__name__, "features", features)
        check_positive(type(self).__name__, "eps", eps)
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(1, features).uniform_(-0.05, 0.05))  # Keras's init

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        scores = F.linear(x, self.weight).squeeze(-1)  # (B, T)
        ai = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        weights = ai / (ai.sum(dim=-1, keepdim=True) + self.eps)  # (B, T)
        pooled = (x * weights.unsqueeze(-1)).sum(dim=1)  # (B, F)
        return (pooled, weights) if return_weights else pooled


class TextGenRNN(nn.Module):
    """textgenrnn's model from coursekit's LSTM (chapter 08): a window of ids in, the next id's
    logits out.

    Unlike the course's other language models, one window gives one prediction: the attention
    pools the whole window, so a text is scored window by window (:func:`nats_per_char`).

    Shape:
        idx ``(B, T)`` int64 -> logits ``(B, V)``; textgenrnn always uses T = 40, left-padded with 0.

    >>> model = TextGenRNN(TextGenRNNConfig(vocab_size=10, embed_dim=4, hidden_size=3))
    >>> model(torch.zeros(2, 40, dtype=torch.long)).shape
    torch.Size([2, 10])
    """

    def __init__(self, config: TextGenRNNConfig | None = None) -> None:
        config = TextGenRNNConfig() if config is None else config
        check_config("TextGenRNN", config, TextGenRNNConfig, "TextGenRNN(TextGenRNNConfig())")
        super().__init__()
        self.config = config
        c, h = config.embed_dim, config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, c)
        self.lstms = nn.ModuleList(
            LSTM(c if layer == 0 else h, h, fused=config.fused)
            for layer in range(config.num_layers)
        )
        features = c + config.num_layers * h
        self.attention = AttentionWeightedAverage(features)
        self.head = nn.Linear(features, config.vocab_size)

    def forward(self, idx: Tensor) -> Tensor:
        check_token_ids(idx, self.config.vocab_size, type(self).__name__)
        if idx.dim() != 2:
            raise ValueError(
                f"expected windows of ids of shape (B, T), got {tuple(idx.shape)}; for one window "
                f"use idx.unsqueeze(0)."
            )
        steps = [self.embedding(idx)]  # (B, T, C)
        for lstm in self.lstms:
            steps.append(lstm(steps[-1])[0])  # (B, T, H): each layer's output is kept
        return self.head(self.attention(torch.cat(steps, dim=-1)))  # (B, F) -> (B, V)


@dataclass(frozen=True)
class TextGenRNNVocab:
    """textgenrnn's characters: ``itos[i]`` is id ``i``'s character; id 0 is the padding ``""``.

    ``end_token`` (``"<s>"``) is one id that starts and ends a text. A character outside the
    vocabulary raises an error naming it (textgenrnn's training drops such characters).

    >>> vocab = TextGenRNNVocab(("", "a", "b", "<s>"))
    >>> vocab.encode("ab"), vocab.decode([1, 2, 3]), vocab.end_id
    ([1, 2], 'ab', 3)
    """

    itos: tuple[str, ...]
    end_token: str = "<s>"

    @property
    def stoi(self) -> dict[str, int]:
        return {ch: i for i, ch in enumerate(self.itos) if i}

    @property
    def end_id(self) -> int:
        return self.itos.index(self.end_token)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        unknown = sorted({ch for ch in text if ch not in stoi})
        if unknown:
            raise ValueError(
                f"characters not in textgenrnn's vocabulary: {unknown}; replace or drop them "
                f"(it has {len(self) - 2} characters: letters, digits, punctuation, some emoji)."
            )
        return [stoi[ch] for ch in text]

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of ``ids``, leaving out the padding and the end token."""
        return "".join(self.itos[i] for i in ids if i and i != self.end_id)


def _windows(ids: list[int], context: int) -> Tensor:
    """For each position t >= 1, the ``context`` ids before it, left-padded with 0: ``(N, T)``."""
    padded = torch.tensor([0] * context + ids)
    return padded.unfold(0, context, 1)[1 : len(ids)]  # windows ending just before ids[1:]


def _read_safetensors(raw: bytes, where: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors (read by the ``safetensors`` package: no pickle, no code) and the metadata."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load
    except ImportError:  # pragma: no cover
        raise ImportError(
            "reading pretrained weights needs the safetensors package: pip install safetensors"
        ) from None
    try:
        tensors = load(raw)
        size = int.from_bytes(raw[:8], "little")  # the JSON header's length, then the header
        metadata = json.loads(raw[8 : 8 + size]).get("__metadata__") or {}
    except (SafetensorError, ValueError) as exc:
        raise DataFileError(
            f"{where} is not a readable safetensors file ({exc}). Rebuild it with {REBUILD}."
        ) from None
    return tensors, metadata


def _read(path: str | Path | None) -> tuple[dict[str, Tensor], dict[str, str], str]:
    path = bundled_path(DATA) if path is None else Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    tensors, metadata = _read_safetensors(raw, str(path))
    if metadata.get("format") != FORMAT:
        raise DataFileError(
            f"{path}: metadata format {metadata.get('format')!r}, expected {FORMAT!r}. "
            f"Rebuild it with {REBUILD}."
        )
    return tensors, metadata, str(path)


def load_textgenrnn(
    path: str | Path | None = None, *, fused: bool = True
) -> tuple[TextGenRNN, TextGenRNNVocab]:
    """textgenrnn's pretrained model (eval mode) and its vocabulary (chapter 08).

    Args:
        path: a converted file (``.safetensors`` or ``.safetensors.gz``); by default the bundled
            one, checked against its sha256 first.
        fused: PyTorch's fused LSTM kernel (fast) or coursekit's teaching loop (same numbers).

    Raises:
        DataFileError: the file is missing or damaged, or its tensors do not fit the model (the
            message names every missing, unexpected and misshapen tensor and the rebuild command).

    >>> model, vocab = load_textgenrnn()
    >>> len(vocab), vocab.end_token, sum(p.numel() for p in model.parameters())
    (465, '<s>', 462717)
    """
    tensors, metadata, where = _read(path)
    config = TextGenRNNConfig(context=int(metadata.get("context", 40)), fused=fused)
    model = TextGenRNN(config)
    expected = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    problems = []
    if missing := sorted(expected.keys() - tensors.keys()):
        problems.append(f"missing tensors {missing}")
    if unexpected := sorted(tensors.keys() - expected.keys()):
        problems.append(f"unexpected tensors {unexpected}")
    problems += [
        f"{name} has shape {tuple(t.shape)}, expected {expected[name]}"
        for name, t in sorted(tensors.items())
        if name in expected and tuple(t.shape) != expected[name]
    ]
    vocab = TextGenRNNVocab(
        tuple(json.loads(metadata.get("vocab", "[]"))), metadata.get("end_token", "<s>")
    )
    if len(vocab) != config.vocab_size or vocab.end_token not in vocab.itos:
        problems.append(f"the vocabulary has {len(vocab)} ids, expected {config.vocab_size}")
    if problems:
        raise DataFileError(
            f"{where} does not fit textgenrnn's model: {'; '.join(problems)}. "
            f"Rebuild it with {REBUILD}."
        )
    model.load_state_dict(tensors)
    return model.eval(), vocab


def textgenrnn_reference(path: str | Path | None = None) -> dict[str, float]:
    """The loss (nats per character) of each reference sentence, as the build computed it in
    float64 numpy from the original Keras arrays: what :func:`nats_per_char` should give.

    >>> ref = textgenrnn_reference(); round(ref["TIL that the first computer programmer was a woman"], 4)
    0.957
    """
    _, metadata, where = _read(path)
    if "reference" not in metadata:
        raise DataFileError(f"{where} has no reference losses. Rebuild it with {REBUILD}.")
    reference = json.loads(metadata["reference"])
    return dict(zip(reference["sentences"], reference["nats_per_char"], strict=True))


@torch.no_grad()
def nats_per_char(model: TextGenRNN, vocab: TextGenRNNVocab, text: str, end: bool = True) -> float:
    """Mean negative log-likelihood of ``text`` in nats per predicted character (chapter 08).

    As textgenrnn trains: the text is ``<s>`` + its characters + ``<s>``, and each id is predicted
    from the ``context`` ids before it. ``end=True`` counts the final ``<s>`` as one more
    prediction (textgenrnn's objective); ``end=False`` scores the characters only. Divide by
    ln 2 for bits per character.

    >>> model, vocab = load_textgenrnn()
    >>> round(nats_per_char(model, vocab, "What is the best way to learn a new language?"), 3)
    0.797
    """
    ids = [vocab.end_id, *vocab.encode(text), vocab.end_id]
    windows = _windows(ids, model.config.context).to(model.head.weight.device)  # (N, T)
    targets = torch.tensor(ids[1:], device=windows.device)  # (N,)
    if not end:
        windows, targets = windows[:-1], targets[:-1]
    return float(F.cross_entropy(model(windows).double(), targets))


@torch.no_grad()
def generate_text(
    model: TextGenRNN,
    vocab: TextGenRNNVocab,
    prefix: str = "",
    temperature: float | Sequence[float] = 0.5,
    max_length: int = 300,
    generator: torch.Generator | None = None,
) -> str:
    """Sample a text as textgenrnn does, character by character until ``<s>`` (chapter 08).

    Each step reads the last ``context`` ids (starting from ``<s>`` + ``prefix``) and draws from
    ``p^(1/τ)`` renormalised (textgenrnn adds 1e-7 to ``p`` first); τ = 0 takes the most likely
    id. A drawn padding id 0 is replaced by the second most likely id, as textgenrnn does. A list
    of temperatures is cycled through, step by step (textgenrnn's ``generate`` uses
    ``[1.0, 0.5, 0.2, 0.2]``).

    Args:
        prefix: the start of the text (its characters must be in the vocabulary).
        temperature: τ >= 0, or a sequence of them.
        max_length: at most this many new characters (textgenrnn's 300 also counts the prefix).
        generator: a seeded ``torch.Generator`` for repeatable samples.

    Returns:
        ``prefix`` and the new characters, without ``<s>``.

    >>> model, vocab = load_textgenrnn()
    >>> text = generate_text(model, vocab, "The", temperature=0.5, max_length=40,
    ...                      generator=torch.Generator().manual_seed(0))
    >>> text.startswith("The") and 3 < len(text) <= 43
    True
    """
    temperatures = [temperature] if isinstance(temperature, (int, float)) else list(temperature)
    if not temperatures or any(t < 0 for t in temperatures):
        raise ValueError(f"temperature must be >= 0 (or a list of such), got {temperature!r}")
    check_int("generate_text", "max_length", max_length)
    ids = [vocab.end_id, *vocab.encode(prefix)]
    new: list[int] = []
    device = model.head.weight.device
    while len(new) < max_length:
        window = torch.tensor([0] * model.config.context + ids)[-model.config.context :]
        probs = torch.softmax(model(window[None].to(device))[0].double(), dim=-1).cpu()  # (V,)
        tau = temperatures[(len(ids) - 1) % len(temperatures)]
        if tau == 0:
            next_id = int(probs.argmax())
        else:
            tempered = torch.exp(torch.log(probs + EPSILON) / tau)
            tempered /= tempered.sum()
            next_id = int(torch.multinomial(tempered, 1, generator=generator))
            if next_id == 0:  # never the padding: the runner-up instead
                next_id = int(tempered.argsort()[-2])
        if next_id == vocab.end_id:
            break
        ids.append(next_id)
        new.append(next_id)
    return prefix + vocab.decode(new)
