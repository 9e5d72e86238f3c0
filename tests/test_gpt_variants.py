"""GPT-2 and today's decoder-only variant (RMS norm, RoPE, SwiGLU, no biases) against Hugging Face.

RMSNorm against torch.nn.RMSNorm and rotary embeddings against transformers' Llama functions
(float64, values and gradients); the relative-position property of RoPE; tiny random GPT-2 and
Llama models from transformers converted to coursekit's GPT, with equal logits (float32) and
equal greedy generations, with and without the key/value caches; incremental decoding of the
modern variant against full recomputation; the converters' and the config's errors.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
import transformers
from torch import nn
from transformers.models.llama import modeling_llama

from coursekit.generate import generate
from coursekit.nn import GPT, GPTConfig, ModernBlock, RMSNorm, RotaryEmbedding
from coursekit.nn.transformer import (
    apply_rotary,
    gpt_from_hf_gpt2,
    gpt_from_hf_llama,
    rotary_tables,
)
from coursekit.train import lm_loss

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hf import tiny_hf_gpt2

TOL = {"rtol": 1e-10, "atol": 1e-12}
LOGITS_ATOL = 1e-5  # float32 logits, ours against transformers'
TINY = {"vocab": 101, "width": 32, "heads": 4, "layers": 2, "context": 64}


class NoCache(nn.Module):
    """The same model seen by generate's stateless path (it re-reads the whole window)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, idx):
        return self.inner(idx)


def _hf_gpt2(tie: bool = True):
    return tiny_hf_gpt2(TINY["vocab"], TINY["context"], TINY["width"], TINY["layers"],
                        TINY["heads"], tie)  # fmt: skip


def _hf_llama(tie: bool):
    config = transformers.LlamaConfig(
        vocab_size=TINY["vocab"],
        hidden_size=TINY["width"],
        intermediate_size=88,
        num_hidden_layers=TINY["layers"],
        num_attention_heads=TINY["heads"],
        num_key_value_heads=TINY["heads"],
        max_position_embeddings=TINY["context"],
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.2,
        tie_word_embeddings=tie,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    torch.manual_seed(1)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def _ids(seed: int, shape=(2, 16)):
    return torch.randint(0, TINY["vocab"], shape, generator=torch.Generator().manual_seed(seed))


def _assert_same_model(ours: GPT, hf, seed: int) -> None:
    """Equal logits on random ids, and equal greedy continuations with and without caches."""
    ids = _ids(seed)
    with torch.no_grad():
        theirs = hf(ids).logits
    diff = (ours(ids) - theirs).abs().max().item()
    assert diff <= LOGITS_ATOL, f"max |logits difference| {diff:.2e} > {LOGITS_ATOL}"
    prompt = ids[:, :8]
    runs = {
        "ours, cache": generate(ours, prompt, 20, temperature=0),
        "ours, no cache": generate(NoCache(ours), prompt, 20, temperature=0, context_size=64),
    }
    for use_cache in (True, False):
        out = hf.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=20,
            min_new_tokens=20,
            do_sample=False,
            use_cache=use_cache,
        )
        runs[f"transformers, use_cache={use_cache}"] = out
    reference = runs["transformers, use_cache=True"]
    assert reference.shape == (2, 28)
    for name, out in runs.items():
        assert torch.equal(out, reference), name


# --- the layers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rms_norm_matches_torch_in_values_and_gradients(seed):
    gen = torch.Generator().manual_seed(seed)
    dims = [int(v) for v in torch.randint(1, 6, (3,), generator=gen)]
    shape = tuple(dims[2:]) if seed == 2 else dims[2]  # the last one, or a tuple of them
    eps = [None, 1e-6, 0.5][seed]
    ref = nn.RMSNorm(shape, eps=eps, dtype=torch.float64)
    nn.init.normal_(ref.weight, std=1.0, generator=gen)
    ours = RMSNorm(shape, eps=eps, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(*dims, generator=gen, dtype=torch.float64)
    weights = torch.randn(*dims, generator=gen, dtype=torch.float64)
    results = []
    for layer in (ours, ref):
        leaf = x.clone().requires_grad_()
        out = layer(leaf)
        (out * weights).sum().backward()
        results.append((out, leaf.grad, layer.weight.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    bare = RMSNorm(dims[2], elementwise_affine=False, dtype=torch.float64)
    expected = nn.RMSNorm(dims[2], elementwise_affine=False)(x)
    torch.testing.assert_close(bare(x), expected, **TOL)
    assert bare.weight is None and not list(bare.parameters())
    with pytest.raises(ValueError, match=r"last dimensions must be \(7,\), got shape \(2, 3\)"):
        RMSNorm(7)(torch.zeros(2, 3))


def test_rotary_tables_are_those_of_transformers_llama():
    config = transformers.LlamaConfig(
        hidden_size=48, num_attention_heads=3, max_position_embeddings=40
    )
    rope = modeling_llama.LlamaRotaryEmbedding(config)
    positions = torch.arange(40)[None]  # (1, P)
    cos, sin = rope(torch.zeros(1, dtype=torch.float32), positions)
    ours_cos, ours_sin = rotary_tables(40, 16, base=10000.0)
    assert torch.equal(ours_cos, cos[0]) and torch.equal(ours_sin, sin[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_apply_rotary_matches_transformers_in_values_and_gradients(seed):
    gen = torch.Generator().manual_seed(seed)
    b, h, t = (int(v) for v in torch.randint(1, 5, (3,), generator=gen))
    e = 2 * int(torch.randint(1, 6, (1,), generator=gen))
    offset = int(torch.randint(0, 10, (1,), generator=gen))
    cos, sin = (table.double() for table in rotary_tables(offset + t, e, base=500.0))
    q, k = (torch.randn(b, h, t, e, generator=gen, dtype=torch.float64) for _ in range(2))
    w_q, w_k = (torch.randn(b, h, t, e, generator=gen, dtype=torch.float64) for _ in range(2))
    results = []
    for rotate in ("ours", "transformers"):
        leaves = [q.clone().requires_grad_(), k.clone().requires_grad_()]
        if rotate == "ours":
            outs = [apply_rotary(x, cos, sin, offset) for x in leaves]
        else:
            position_cos, position_sin = cos[None, offset:], sin[None, offset:]  # (1, T, E)
            outs = modeling_llama.apply_rotary_pos_emb(*leaves, position_cos, position_sin)
        ((outs[0] * w_q).sum() + (outs[1] * w_k).sum()).backward()
        results.append([*outs, *(leaf.grad for leaf in leaves)])
    for a, r in zip(*results, strict=True):
        torch.testing.assert_close(a, r, **TOL)


def test_rotated_scores_depend_only_on_the_relative_position():
    gen = torch.Generator().manual_seed(3)
    tables = rotary_tables(64, 8, dtype=torch.float64)
    q, k = (torch.randn(1, 1, 1, 8, generator=gen, dtype=torch.float64) for _ in range(2))

    def score(m: int, n: int) -> float:
        return (apply_rotary(q, *tables, m) * apply_rotary(k, *tables, n)).sum().item()

    for m, n in ((0, 0), (3, 7), (20, 5), (9, 9)):
        for shift in (1, 13, 40):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-12)
    assert abs(score(0, 1) - score(0, 2)) > 1e-3  # ... and it does depend on it
    torch.testing.assert_close(apply_rotary(q, *tables, 17).norm(), q.norm(), **TOL)  # a rotation
    rope = RotaryEmbedding(8, max_len=64)  # the module: float32 tables, the same rotation
    torch.testing.assert_close(rope(q.float(), 17), apply_rotary(q, *tables, 17).float())


# --- the configs ---------------------------------------------------------------------------------
GPT2_KEYS = [
    "tok.weight",
    "pos.embedding.weight",
    *(
        f"blocks.0.{name}"
        for name in (
            "self_attn.in_proj_weight",
            "self_attn.in_proj_bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias",
            "norm1.weight",
            "norm1.bias",
            "norm2.weight",
            "norm2.bias",
        )
    ),
    "norm.weight",
    "norm.bias",
    "head.weight",
]


def test_gpt2_defaults_and_parameter_names_are_unchanged():
    config = GPTConfig(vocab_size=10, num_layers=1)
    assert (config.norm, config.positional, config.mlp, config.norm_eps) == (
        "layernorm",
        "learned",
        "gelu",
        1e-5,
    )
    assert not config.modern and config.hidden_dim == 4 * config.embed_dim
    model = GPT(config)
    assert list(model.state_dict()) == GPT2_KEYS
    assert model.blocks[0].activation is torch.nn.functional.gelu


def test_the_llama_preset_and_its_parameters():
    config = GPTConfig.llama(vocab_size=10, embed_dim=48, num_heads=4, num_layers=1)
    assert config.modern and not config.bias and not config.tie_weights
    assert config.hidden_dim == 128  # 8/3 * 48
    model = GPT(config)
    assert model.pos is None and isinstance(model.blocks[0], ModernBlock)
    assert list(model.state_dict()) == [
        "tok.weight",
        "blocks.0.norm1.weight",
        "blocks.0.self_attn.in_proj_weight",
        "blocks.0.self_attn.out_proj.weight",
        "blocks.0.norm2.weight",
        "blocks.0.ff.gate.weight",
        "blocks.0.ff.up.weight",
        "blocks.0.ff.down.weight",
        "norm.weight",
        "head.weight",
    ]
    tied = GPT(GPTConfig.llama(vocab_size=10, embed_dim=48, num_heads=4, tie_weights=True))
    assert tied.head.weight is tied.tok.weight


def test_configs_refuse_bad_variants_naming_the_fix():
    with pytest.raises(
        ValueError, match=r"rotary.*must be even, got 12 // 4 = 3: use embed_dim=16"
    ):
        GPTConfig(vocab_size=10, embed_dim=12, num_heads=4, positional="rotary")
    with pytest.raises(ValueError, match=r"norm must be one of .*did you mean 'rmsnorm'"):
        GPTConfig(vocab_size=10, norm="rmsnrom")
    with pytest.raises(ValueError, match=r"mlp must be one of 'gelu', 'gelu_tanh', 'swiglu'"):
        GPTConfig(vocab_size=10, mlp="relu")
    with pytest.raises(ValueError, match=r"pre-norm blocks only.*set norm_first=True"):
        GPTConfig.llama(vocab_size=10, norm_first=False)
    with pytest.raises(ValueError, match=r"norm_eps must be a positive number, got 0"):
        GPTConfig(vocab_size=10, norm_eps=0)
    with pytest.raises(TypeError, match=r"rope_base must be a positive number, got str"):
        GPTConfig(vocab_size=10, rope_base="1e4")
    with pytest.raises(TypeError, match=r"rotary must be a RotaryEmbedding or None, got bool"):
        ModernBlock(8, 2, 16, rotary=True)


# --- the modern variant decodes incrementally ----------------------------------------------------
VARIANTS = {
    "llama": {"norm": "rmsnorm", "positional": "rotary", "mlp": "swiglu", "bias": False},
    "rotary-only": {"positional": "rotary"},
    "rmsnorm-swiglu-learned": {"norm": "rmsnorm", "mlp": "swiglu"},
}


def _modern(variant: str, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=13, context_size=12, embed_dim=16, num_heads=2, num_layers=2, **VARIANTS[variant]
    )
    model = GPT(config).double().eval()
    with torch.no_grad():  # RMS norm gains start at one: make them count
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_modern_kv_cache_decoding_gives_the_logits_of_full_recomputation(variant):
    model = _modern(variant)
    ids = torch.randint(0, 13, (2, 10), generator=torch.Generator().manual_seed(1))
    full = model(ids)  # (B, T, V)
    cache, pieces = None, []
    for start, stop in ((0, 4), (4, 5), (5, 6), (6, 9), (9, 10)):  # a prompt, then steps
        logits, cache = model.forward_with_state(ids[:, start:stop], cache)
        pieces.append(logits)
    assert len(cache) == 10
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, **TOL)


@pytest.mark.parametrize("variant", ["llama", "rotary-only"])
def test_modern_generation_past_the_context_agrees_with_recomputing_the_window(variant):
    model = _modern(variant, seed=3)
    ids = torch.randint(0, 13, (2, 15), generator=torch.Generator().manual_seed(2))
    _, cache = model.forward_with_state(ids[:, :12])
    logits, cache = model.forward_with_state(ids[:, 12:13], cache)  # starts again from 1..12
    torch.testing.assert_close(logits[:, -1], model(ids[:, 1:13])[:, -1], **TOL)
    assert len(cache) == 12
    prompt = ids[:, :3]
    cached = generate(model, prompt, 14, temperature=0)  # runs past context_size=12
    plain = generate(NoCache(model), prompt, 14, temperature=0, context_size=12)
    assert cached.shape == (2, 17) and torch.equal(cached, plain)


def test_the_modern_variant_trains_with_lm_loss():
    model = _modern("llama").float().train()
    ids = torch.randint(0, 13, (2, 8), generator=torch.Generator().manual_seed(5))
    loss = lm_loss(model, (ids[:, :-1], ids[:, 1:]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# --- converted from transformers -----------------------------------------------------------------
@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_gpt2_from_transformers_gives_its_logits_and_generations(tie):
    hf = _hf_gpt2(tie)
    ours = gpt_from_hf_gpt2(hf)
    assert ours.config.mlp == "gelu_tanh" and not ours.config.modern
    assert (ours.head.weight is ours.tok.weight) == tie
    _assert_same_model(ours, hf, seed=10 + tie)


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_llama_from_transformers_gives_its_logits_and_generations(tie):
    hf = _hf_llama(tie)
    ours = gpt_from_hf_llama(hf)
    assert ours.config.modern and ours.config.norm_eps == 1e-6 and ours.config.hidden_dim == 88
    assert (ours.head.weight is ours.tok.weight) == tie
    _assert_same_model(ours, hf, seed=20 + tie)


def test_converters_take_a_plain_state_dict_and_config_dict():
    hf = _hf_gpt2()
    bare = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items()}
    bare["h.0.attn.bias"] = torch.ones(1, 1, 64, 64)  # old checkpoints' causal-mask buffers
    ours = gpt_from_hf_gpt2(bare, hf.config.to_dict(), context_size=32)
    ids = _ids(30, (2, 32))
    with torch.no_grad():
        assert (ours(ids) - hf(ids).logits).abs().max().item() <= LOGITS_ATOL
    llama = _hf_llama(tie=False)
    ours = gpt_from_hf_llama(dict(llama.state_dict()), llama.config.to_dict())
    with torch.no_grad():
        assert (ours(ids) - llama(ids).logits).abs().max().item() <= LOGITS_ATOL


def test_a_state_dict_that_does_not_fit_names_the_keys_and_shapes():
    hf = _hf_gpt2(tie=False)
    state = dict(hf.state_dict())
    del state["transformer.h.1.mlp.c_fc.bias"]
    state["transformer.h.0.attn.extra"] = torch.zeros(3)
    state["transformer.wpe.weight"] = torch.zeros(64, 30)
    with pytest.raises(ValueError) as error:
        gpt_from_hf_gpt2(state, hf.config)
    message = str(error.value)
    assert "missing keys: h.1.mlp.c_fc.bias" in message
    assert "unexpected keys: h.0.attn.extra" in message
    assert "wrong shapes: wpe.weight is (64, 30), expected (64, 32)" in message
    llama = _hf_llama(tie=True)
    state = dict(llama.state_dict())
    state["model.layers.0.self_attn.q_proj.weight"] = torch.zeros(16, 32)
    state["lm_head.weight"] = state["lm_head.weight"] + 1  # not tied after all
    with pytest.raises(ValueError, match=r"q_proj.weight is \(16, 32\), expected \(32, 32\)"):
        gpt_from_hf_llama(state, llama.config)
    state["model.layers.0.self_attn.q_proj.weight"] = llama.model.layers[0].self_attn.q_proj.weight
    with pytest.raises(ValueError, match=r"lm_head.weight differs from embed_tokens.weight"):
        gpt_from_hf_llama(state, llama.config)
    grouped = llama.config.to_dict() | {"num_key_value_heads": 2}
    with pytest.raises(ValueError, match=r"grouped-query attention .*num_key_value_heads=2"):
        gpt_from_hf_llama(llama.state_dict(), grouped)
    with pytest.raises(ValueError, match=r"a state dict needs its config"):
        gpt_from_hf_llama(llama.state_dict())


@pytest.mark.parametrize("module", ["norms", "rotary", "feedforward", "modern", "hf"])
def test_each_new_room_names_chapter_08_has_a_shape_legend_and_stays_small(module):
    mod = importlib.import_module(f"coursekit.nn.transformer.{module}")
    assert "chapter 08" in " ".join(mod.__doc__.split("\n\n")[0].split())
    assert "Shapes:" in mod.__doc__
    assert len(Path(mod.__file__).read_text().splitlines()) < 400
