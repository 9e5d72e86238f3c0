"""Hugging Face GPT-2 and Llama weights in a coursekit :class:`~coursekit.nn.GPT` (chapter 08).

Each converter takes a ``transformers`` model, or its state dict and its config (a config object
or the plain ``config.json`` dict), so it also works without ``transformers`` installed, on a
checkpoint read from disk. Keys may carry the model's prefix (``transformer.``, ``model.``) or
not. It checks every key and shape before copying, and a mismatch raises naming the missing and
unexpected keys and the wrong shapes.

What changes on the way:

* GPT-2 stores its linear layers as ``Conv1D``, weight ``(in, out)``: transposed to ``nn.Linear``'s
  ``(out, in)``. Its ``c_attn`` already packs Q, K, V in our ``in_proj`` order. Its activation
  ``gelu_new`` is the tanh approximation: ``mlp="gelu_tanh"``. Layer-norm epsilon 1e-5 is ours.
* Llama's ``q_proj``, ``k_proj``, ``v_proj`` are stacked into the packed ``in_proj_weight
  (3C, C)``. Hugging Face stores them for the half-split rotary layout (``rotate_half``), the one
  :mod:`~coursekit.nn.transformer.rotary` uses, so no permutation is needed. Grouped-query
  attention (fewer key/value heads) and rotary scaling are not supported and say so.
* Tied embeddings: the output layer is the token embedding (a checkpoint's ``lm_head.weight``,
  if present, must equal it).

The model comes back in float32 and eval mode, without dropout unless ``dropout=`` is passed;
other GPTConfig fields may be passed the same way (``impl``, a smaller ``context_size``).

Shapes: C width, F feed-forward width, V vocab, P context_size, L layers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import NoReturn

import torch
from torch import Tensor, nn

from coursekit.nn.transformer.gpt import GPT, GPTConfig

__all__ = [
    "gpt_config_from_hf_gpt2",
    "gpt_config_from_hf_llama",
    "gpt_from_hf_gpt2",
    "gpt_from_hf_llama",
]

_MISSING = object()
_GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
# our key -> ([(their key, their shape), ...], how the tensors become ours)
Plan = dict[str, tuple[list[tuple[str, tuple[int, ...]]], Callable[..., Tensor]]]


def _get(owner: str, config: object, name: str, default: object = _MISSING) -> object:
    value = (
        config.get(name, default) if isinstance(config, Mapping) else getattr(config, name, default)
    )
    if value is _MISSING:
        raise ValueError(f"{owner}: the config has no {name!r}: pass the model's own config.")
    return value


def _unsupported(owner: str, what: str, fix: str) -> NoReturn:
    raise ValueError(f"{owner}: {what} is not supported by coursekit's GPT: {fix}.")


def gpt_config_from_hf_gpt2(config: object, **fields: object) -> GPTConfig:
    """The :class:`GPTConfig` of a Hugging Face ``GPT2Config`` (or its dict), ``fields`` on top.

    >>> gpt_config_from_hf_gpt2({"vocab_size": 50257, "n_positions": 1024, "n_embd": 768,
    ...                          "n_head": 12, "n_layer": 12}).mlp
    'gelu_tanh'
    """
    owner = "gpt_config_from_hf_gpt2"
    activation = _get(owner, config, "activation_function", "gelu_new")
    if activation not in _GPT2_ACTIVATIONS:
        _unsupported(owner, f"activation_function={activation!r}", "use 'gelu_new' or 'gelu'")
    if not _get(owner, config, "scale_attn_weights", True):
        _unsupported(owner, "scale_attn_weights=False", "GPT divides the scores by sqrt(E)")
    if _get(owner, config, "scale_attn_by_inverse_layer_idx", False):
        _unsupported(owner, "scale_attn_by_inverse_layer_idx=True", "use a config without it")
    base = {
        "vocab_size": _get(owner, config, "vocab_size"),
        "context_size": _get(owner, config, "n_positions"),
        "embed_dim": _get(owner, config, "n_embd"),
        "num_heads": _get(owner, config, "n_head"),
        "num_layers": _get(owner, config, "n_layer"),
        "ff_dim": _get(owner, config, "n_inner", None),
        "dropout": 0.0,
        "tie_weights": bool(_get(owner, config, "tie_word_embeddings", True)),
        "norm_eps": _get(owner, config, "layer_norm_epsilon", 1e-5),
        "mlp": _GPT2_ACTIVATIONS[activation],
        "impl": "sdpa",
    }
    return GPTConfig(**{**base, **fields})  # a misspelt field raises, naming the valid ones


def _rope_theta(owner: str, config: object) -> float:
    """``rope_theta`` from transformers 5's ``rope_parameters`` or 4's ``rope_scaling``."""
    rope = _get(owner, config, "rope_parameters", None) or _get(owner, config, "rope_scaling", None)
    rope = dict(rope or {})
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind != "default":
        _unsupported(owner, f"rope_type={kind!r}", "only the original RoPE (rope_type='default')")
    return float(rope.get("rope_theta", _get(owner, config, "rope_theta", 10000.0)))


def gpt_config_from_hf_llama(config: object, **fields: object) -> GPTConfig:
    """The :class:`GPTConfig` of a Hugging Face ``LlamaConfig`` (or its dict), ``fields`` on top.

    >>> c = gpt_config_from_hf_llama({"vocab_size": 32000, "hidden_size": 64,
    ...     "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4})
    >>> c.norm, c.positional, c.mlp, c.hidden_dim, c.rope_base
    ('rmsnorm', 'rotary', 'swiglu', 172, 10000.0)
    """
    owner = "gpt_config_from_hf_llama"
    width, heads = _get(owner, config, "hidden_size"), _get(owner, config, "num_attention_heads")
    kv_heads = _get(owner, config, "num_key_value_heads", None) or heads
    if kv_heads != heads:
        _unsupported(
            owner,
            f"grouped-query attention (num_key_value_heads={kv_heads} < num_attention_heads="
            f"{heads})",
            "use a model with num_key_value_heads == num_attention_heads",
        )
    head_dim = _get(owner, config, "head_dim", None) or width // heads
    if head_dim * heads != width:
        _unsupported(
            owner,
            f"head_dim={head_dim} with {heads} heads and hidden_size={width}",
            "use head_dim == hidden_size // num_attention_heads",
        )
    if _get(owner, config, "hidden_act", "silu") != "silu":
        _unsupported(owner, f"hidden_act={_get(owner, config, 'hidden_act')!r}", "use 'silu'")
    bias = bool(_get(owner, config, "attention_bias", False))
    if bool(_get(owner, config, "mlp_bias", False)) != bias:
        _unsupported(owner, "attention_bias != mlp_bias", "GPTConfig has one bias flag")
    base = {
        "vocab_size": _get(owner, config, "vocab_size"),
        "context_size": _get(owner, config, "max_position_embeddings", 2048),
        "embed_dim": width,
        "num_heads": heads,
        "num_layers": _get(owner, config, "num_hidden_layers"),
        "ff_dim": _get(owner, config, "intermediate_size"),
        "dropout": 0.0,
        "bias": bias,
        "tie_weights": bool(_get(owner, config, "tie_word_embeddings", False)),
        "positional": "rotary",
        "norm": "rmsnorm",
        "norm_eps": _get(owner, config, "rms_norm_eps", 1e-6),
        "mlp": "swiglu",
        "rope_base": _rope_theta(owner, config),
        "impl": "sdpa",
    }
    return GPTConfig(**{**base, **fields})


def _same(*tensors: Tensor) -> Tensor:
    return tensors[0]


def _transposed(weight: Tensor) -> Tensor:
    return weight.t()


def _stacked(*tensors: Tensor) -> Tensor:
    return torch.cat(tensors, dim=0)


def _load(owner: str, plan: Plan, state: Mapping, ignore: str, c: GPTConfig, hint: str) -> GPT:
    """Check every key and shape of ``state`` against ``plan``, then build and fill the GPT.

    Tied, the output layer is the embedding, and a ``lm_head.weight`` must equal it; untied, the
    plan holds it."""
    if not c.tie_weights:
        plan["head.weight"] = ([("lm_head.weight", (c.vocab_size, c.embed_dim))], _same)
    expected = {key: shape for sources, _ in plan.values() for key, shape in sources}
    missing = [k for k in expected if k not in state]
    unexpected = [
        k
        for k in state
        if k not in expected and k != "lm_head.weight" and not re.fullmatch(ignore, k)
    ]
    wrong = [
        f"{k} is {tuple(state[k].shape)}, expected {shape}"
        for k, shape in expected.items()
        if k in state and tuple(state[k].shape) != shape
    ]
    if missing or unexpected or wrong:
        parts = [
            f"{label}: {_listed(items)}"
            for label, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("wrong shapes", wrong),
            )
            if items
        ]
        raise ValueError(
            f"{owner}: the state dict does not fit the config (L={c.num_layers}, C={c.embed_dim}, "
            f"H={c.num_heads}, V={c.vocab_size}, P={c.context_size}): {'; '.join(parts)}. {hint}"
        )
    embedding = plan["tok.weight"][0][0][0]
    if c.tie_weights and "lm_head.weight" in state:
        head = state["lm_head.weight"]
        if head.shape != state[embedding].shape or not torch.equal(head, state[embedding]):
            raise ValueError(
                f"{owner}: the config ties the output layer to the embedding (tie_word_embeddings"
                f"=True), but lm_head.weight differs from {embedding}: pass tie_word_embeddings="
                f"False in the config, or the state dict of a tied model."
            )
    model = GPT(c)
    ours = {key: build(*(state[k] for k, _ in sources)) for key, (sources, build) in plan.items()}
    if c.tie_weights:
        ours["head.weight"] = ours["tok.weight"]
    with torch.no_grad():
        model.load_state_dict({k: v.float() for k, v in ours.items()}, strict=True)
    return model.eval()


def _listed(items: list[str], most: int = 8) -> str:
    more = f" (and {len(items) - most} more)" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def _split(owner: str, source: object, config: object | None, prefix: str) -> tuple[dict, object]:
    """A model's or a state dict's tensors without the prefix, and the config to use."""
    if isinstance(source, nn.Module):
        config = getattr(source, "config", None) if config is None else config
        source = source.state_dict()
    if not isinstance(source, Mapping):
        raise TypeError(
            f"{owner} takes a transformers model or a state dict (a mapping of names to tensors), "
            f"got {type(source).__name__}."
        )
    if config is None:
        raise ValueError(f"{owner}: a state dict needs its config: pass config=model.config.")
    state = {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in source.items()}
    return state, config


def gpt_from_hf_gpt2(
    model_or_state_dict: nn.Module | Mapping[str, Tensor],
    config: object | None = None,
    **fields: object,
) -> GPT:
    """A :class:`~coursekit.nn.GPT` with the weights of a Hugging Face GPT-2 (chapter 08).

    Args:
        model_or_state_dict: a ``GPT2LMHeadModel`` or ``GPT2Model``, or the state dict of one
            (keys with or without ``transformer.``).
        config: its ``GPT2Config`` or ``config.json`` dict (default: the model's).
        fields: GPTConfig fields to set, e.g. ``dropout=0.1`` or ``context_size=256`` (the first
            rows of the position table).

    >>> gpt_from_hf_gpt2({}, {"vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_head": 2,
    ...                       "n_layer": 1})
    Traceback (most recent call last):
    ...
    ValueError: gpt_from_hf_gpt2: the state dict does not fit the config (L=1, C=8, H=2, V=11, P=8): missing keys: wte.weight, wpe.weight, ln_f.weight, ln_f.bias, h.0.ln_1.weight, h.0.ln_1.bias, h.0.ln_2.weight, h.0.ln_2.bias (and 8 more). Pass the state dict of the GPT-2 this config describes (GPT2LMHeadModel or GPT2Model).
    """
    owner = "gpt_from_hf_gpt2"
    state, hf_config = _split(owner, model_or_state_dict, config, "transformer.")
    c = gpt_config_from_hf_gpt2(hf_config, **fields)
    width, ff, rows = c.embed_dim, c.hidden_dim, _get(owner, hf_config, "n_positions")
    if c.context_size > rows:
        raise ValueError(
            f"{owner}: context_size={c.context_size} is more than the {rows} learned positions: "
            f"pass context_size <= {rows}."
        )
    plan: Plan = {
        "tok.weight": ([("wte.weight", (c.vocab_size, width))], _same),
        "pos.embedding.weight": ([("wpe.weight", (rows, width))], lambda t: t[: c.context_size]),
        "norm.weight": ([("ln_f.weight", (width,))], _same),
        "norm.bias": ([("ln_f.bias", (width,))], _same),
    }
    for i in range(c.num_layers):
        ours, theirs = f"blocks.{i}.", f"h.{i}."
        for name, hf_name, shape in (
            ("norm1", "ln_1", None),
            ("norm2", "ln_2", None),
            ("self_attn.out_proj", "attn.c_proj", (width, width)),
            ("linear1", "mlp.c_fc", (width, ff)),
            ("linear2", "mlp.c_proj", (ff, width)),
        ):
            out = width if shape is None else shape[1]
            weight = (theirs + hf_name + ".weight", (width,) if shape is None else shape)
            plan[ours + name + ".weight"] = ([weight], _same if shape is None else _transposed)
            plan[ours + name + ".bias"] = ([(theirs + hf_name + ".bias", (out,))], _same)
        attn = theirs + "attn.c_attn."
        plan[ours + "self_attn.in_proj_weight"] = (
            [(attn + "weight", (width, 3 * width))],
            _transposed,
        )
        plan[ours + "self_attn.in_proj_bias"] = ([(attn + "bias", (3 * width,))], _same)
    hint = "Pass the state dict of the GPT-2 this config describes (GPT2LMHeadModel or GPT2Model)."
    return _load(owner, plan, state, r"h\.\d+\.attn\.(masked_)?bias", c, hint)


def gpt_from_hf_llama(
    model_or_state_dict: nn.Module | Mapping[str, Tensor],
    config: object | None = None,
    **fields: object,
) -> GPT:
    """A :class:`~coursekit.nn.GPT` with the weights of a Hugging Face Llama (chapter 08).

    Args:
        model_or_state_dict: a ``LlamaForCausalLM`` or ``LlamaModel``, or the state dict of one
            (keys with or without ``model.``).
        config: its ``LlamaConfig`` or ``config.json`` dict (default: the model's).
        fields: GPTConfig fields to set, e.g. ``context_size=2048`` (smaller rotary tables).
    """
    owner = "gpt_from_hf_llama"
    state, hf_config = _split(owner, model_or_state_dict, config, "model.")
    c = gpt_config_from_hf_llama(hf_config, **fields)
    width, ff, square = c.embed_dim, c.hidden_dim, (c.embed_dim, c.embed_dim)
    plan: Plan = {
        "tok.weight": ([("embed_tokens.weight", (c.vocab_size, width))], _same),
        "norm.weight": ([("norm.weight", (width,))], _same),
    }
    for i in range(c.num_layers):
        ours, theirs = f"blocks.{i}.", f"layers.{i}."
        qkv = [(f"{theirs}self_attn.{n}_proj.weight", square) for n in "qkv"]
        plan[ours + "self_attn.in_proj_weight"] = (qkv, _stacked)  # (3C, C): Q, K, V
        for name, hf_name, shape in (
            ("norm1", "input_layernorm", (width,)),
            ("norm2", "post_attention_layernorm", (width,)),
            ("self_attn.out_proj", "self_attn.o_proj", square),
            ("ff.gate", "mlp.gate_proj", (ff, width)),
            ("ff.up", "mlp.up_proj", (ff, width)),
            ("ff.down", "mlp.down_proj", (width, ff)),
        ):
            plan[f"{ours}{name}.weight"] = ([(f"{theirs}{hf_name}.weight", shape)], _same)
            if c.bias and len(shape) == 2:
                plan[f"{ours}{name}.bias"] = ([(f"{theirs}{hf_name}.bias", shape[:1])], _same)
        if c.bias:
            biases = [(f"{theirs}self_attn.{n}_proj.bias", (width,)) for n in "qkv"]
            plan[ours + "self_attn.in_proj_bias"] = (biases, _stacked)
    hint = (
        "Pass the state dict of the Llama this config describes (LlamaForCausalLM or LlamaModel)."
    )
    return _load(owner, plan, state, r"(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq", c, hint)
