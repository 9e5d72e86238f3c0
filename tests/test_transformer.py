"""coursekit.nn.transformer: layer parity with nn.TransformerEncoderLayer/DecoderLayer (float64,
values and gradients, post-norm and pre-norm), KV-cache decoding against full recomputation, the
course's model interface (lm_loss, generate), positional encodings and config errors."""

from __future__ import annotations

import importlib
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from coursekit.generate import generate
from coursekit.nn import (
    GPT,
    GPTConfig,
    KVCache,
    LearnedPositionalEmbedding,
    Seq2SeqTransformer,
    Seq2SeqTransformerConfig,
    SinusoidalPositionalEncoding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    UnknownArgumentError,
    causal_mask,
)
from coursekit.train import lm_loss

TOL = {"rtol": 1e-9, "atol": 1e-11}


def _layer_pair(ours_cls, ref_cls, seed, norm_first, activation):
    gen = torch.Generator().manual_seed(seed)
    h, e, f = (int(v) for v in torch.randint(1, 5, (3,), generator=gen))
    torch.manual_seed(seed)
    kw = {"dropout": 0.0, "activation": activation, "norm_first": norm_first}
    ref = ref_cls(h * e, h, 4 * f, batch_first=True, dtype=torch.float64, **kw)
    for p in ref.parameters():  # torch starts biases at zero and norms at one: make them count
        nn.init.normal_(p, std=0.5)
    ours = ours_cls(h * e, h, 4 * f, dtype=torch.float64, **kw)
    ours.load_state_dict(ref.state_dict())
    return ours, ref, gen, h * e


def _run(layer, inputs, **masks):
    layer.zero_grad(set_to_none=True)
    leaves = [t.clone().requires_grad_() for t in inputs]
    out = layer(*leaves, **masks)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=out.dtype)
    (out * weights).sum().backward()
    return [out] + [t.grad for t in leaves] + [p.grad for p in layer.parameters()]


def _padding(gen, b, t):
    pad = torch.zeros(b, t, dtype=torch.bool)
    pad[-1, int(torch.randint(1, t, (1,), generator=gen)) :] = True  # True on padding, as torch
    return pad


@pytest.mark.parametrize(("norm_first", "activation"), [(False, "relu"), (True, "gelu")])
@pytest.mark.parametrize("seed", [0, 1])
def test_encoder_layer_matches_torch(seed, norm_first, activation):
    ours, ref, gen, c = _layer_pair(
        TransformerEncoderLayer, nn.TransformerEncoderLayer, seed, norm_first, activation
    )
    b, t = 3, int(torch.randint(2, 7, (1,), generator=gen))
    x = torch.randn(b, t, c, generator=gen, dtype=torch.float64)
    masks = {"src_mask": ~causal_mask(t), "src_key_padding_mask": _padding(gen, b, t)}
    for a, r in zip(_run(ours, [x], **masks), _run(ref, [x], **masks), strict=True):
        torch.testing.assert_close(a, r, **TOL)


@pytest.mark.parametrize(("norm_first", "activation"), [(False, "relu"), (True, "gelu")])
@pytest.mark.parametrize("seed", [0, 1])
def test_decoder_layer_matches_torch(seed, norm_first, activation):
    ours, ref, gen, c = _layer_pair(
        TransformerDecoderLayer, nn.TransformerDecoderLayer, seed, norm_first, activation
    )
    b, t, s = 3, *(int(v) for v in torch.randint(2, 7, (2,), generator=gen))
    x = torch.randn(b, t, c, generator=gen, dtype=torch.float64)
    memory = torch.randn(b, s, c, generator=gen, dtype=torch.float64)
    masks = {
        "tgt_mask": ~causal_mask(t),
        "tgt_key_padding_mask": _padding(gen, b, t),
        "memory_key_padding_mask": _padding(gen, b, s),
    }
    for a, r in zip(_run(ours, [x, memory], **masks), _run(ref, [x, memory], **masks), strict=True):
        torch.testing.assert_close(a, r, **TOL)


def _gpt(seed=0, **kw):
    torch.manual_seed(seed)
    config = {"vocab_size": 13, "context_size": 12, "embed_dim": 12, "num_heads": 3}
    return GPT(GPTConfig(**{**config, "num_layers": 2, **kw})).double().eval()


@pytest.mark.parametrize(("positional", "impl"), [("learned", "sdpa"), ("sinusoidal", "naive")])
def test_kv_cache_decoding_gives_the_logits_of_full_recomputation(positional, impl):
    model = _gpt(positional=positional, impl=impl)
    ids = torch.randint(0, 13, (2, 10), generator=torch.Generator().manual_seed(1))
    full = model(ids)  # (B, T, V)
    cache, pieces = None, []
    for start, stop in ((0, 4), (4, 5), (5, 6), (6, 9), (9, 10)):  # a prompt, then steps
        logits, cache = model.forward_with_state(ids[:, start:stop], cache)
        pieces.append(logits)
    assert isinstance(cache, KVCache) and len(cache) == 10
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, **TOL)


def test_the_cache_starts_again_from_the_last_context_when_it_is_full():
    model = _gpt()
    ids = torch.randint(0, 13, (2, 15), generator=torch.Generator().manual_seed(2))
    _, cache = model.forward_with_state(ids[:, :12])
    logits, cache = model.forward_with_state(ids[:, 12:13], cache)
    torch.testing.assert_close(logits[:, -1], model(ids[:, 1:13])[:, -1], **TOL)
    assert len(cache) == 12


def test_generate_uses_the_cache_and_agrees_with_recomputing_the_window():
    model = _gpt(3)
    prompt = torch.randint(0, 13, (2, 3), generator=torch.Generator().manual_seed(4))

    class NoCache(nn.Module):  # the same model seen by generate's stateless path
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, idx):
            return self.inner(idx)

    cached = generate(model, prompt, 14, temperature=0)  # runs past context_size=12
    plain = generate(NoCache(model), prompt, 14, temperature=0, context_size=12)
    assert cached.shape == (2, 17) and torch.equal(cached, plain)


def test_gpt_is_causal_tied_and_trains_with_lm_loss():
    model = _gpt(dropout=0.1).train()
    ids = torch.randint(0, 13, (2, 8), generator=torch.Generator().manual_seed(5))
    assert model.head.weight is model.tok.weight
    untied = _gpt(tie_weights=False)
    assert untied.num_parameters() - model.num_parameters() == 13 * 12
    model.eval()
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 13
    torch.testing.assert_close(model(changed)[:, :-1], model(ids)[:, :-1], **TOL)
    model.train()
    loss = lm_loss(model, (ids[:, :-1], ids[:, 1:]))
    loss.backward()
    assert abs(loss.item() - math.log(13)) < 0.5  # GPT-2's small init: near uniform
    assert all(p.grad is not None for p in model.parameters())


def test_seq2seq_masks_source_padding_and_decodes_with_a_cache():
    torch.manual_seed(0)
    config = Seq2SeqTransformerConfig(9, 7, embed_dim=8, num_heads=2, ff_dim=16, dropout=0.0)
    model = Seq2SeqTransformer(config).double().eval()
    gen = torch.Generator().manual_seed(6)
    src = torch.randint(1, 9, (2, 6), generator=gen)
    src[1, 4:] = 0  # padding
    tgt = torch.randint(1, 7, (2, 5), generator=gen)
    logits = model(src, tgt)
    other = src.clone()
    other[1, 4:] = 5  # other values under the padding change nothing when the mask says so
    torch.testing.assert_close(model(other, tgt, src_mask=src != 0), logits, **TOL)
    memory, cache = model.encode(src), KVCache.empty(config.num_decoder_layers)
    steps = [model.decode(tgt[:, i : i + 1], memory, src, cache=cache) for i in range(5)]
    torch.testing.assert_close(torch.cat(steps, dim=1), logits, **TOL)
    pre = Seq2SeqTransformer(Seq2SeqTransformerConfig(9, 7, embed_dim=8, norm_first=True))
    assert pre(src, tgt).shape == (2, 5, 7)


def test_seq2seq_shared_embeddings_are_one_matrix():
    torch.manual_seed(0)
    config = Seq2SeqTransformerConfig(
        9, 9, embed_dim=8, num_heads=2, ff_dim=16, share_embeddings=True
    )
    model = Seq2SeqTransformer(config)
    assert model.src_embed.weight is model.tgt_embed.weight is model.head.weight
    assert abs(model.src_embed.weight.std().item() - 8**-0.5) < 0.1
    n_separate = sum(
        p.numel() for p in Seq2SeqTransformer(replace(config, share_embeddings=False)).parameters()
    )
    assert n_separate - sum(p.numel() for p in model.parameters()) == 2 * 9 * 8
    src, tgt = torch.randint(1, 9, (2, 4)), torch.randint(1, 9, (2, 3))
    model(src, tgt).sum().backward()  # one gradient, from all three uses
    assert model.src_embed.weight.grad is not None
    with pytest.raises(ValueError, match="share_embeddings=True needs one vocabulary"):
        Seq2SeqTransformerConfig(9, 7, share_embeddings=True)


def test_positional_encodings_follow_the_formula_and_refuse_long_sequences():
    pe = SinusoidalPositionalEncoding(6, max_len=10)
    table = pe(torch.zeros(1, 10, 6))[0]
    p, i = 7, 2  # PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(...)
    assert math.isclose(table[p, 2 * i], math.sin(p / 1e4 ** (2 * i / 6)), abs_tol=1e-6)
    assert math.isclose(table[p, 2 * i + 1], math.cos(p / 1e4 ** (2 * i / 6)), abs_tol=1e-6)
    learned = LearnedPositionalEmbedding(6, max_len=10)
    x = torch.zeros(1, 3, 6)
    torch.testing.assert_close(learned(x, offset=4)[0], learned.embedding.weight[4:7])
    with pytest.raises(ValueError, match=r"12 positions is longer .*max_len=10.*max_len >= 12"):
        pe(torch.zeros(1, 12, 6))
    with pytest.raises(ValueError, match=r"3 positions starting at position 8 .*max_len >= 11"):
        learned(x, offset=8)
    with pytest.raises(ValueError, match=r"13 tokens are more than context_size=12.*-12:"):
        _gpt()(torch.zeros(1, 13, dtype=torch.long))


def test_configs_and_layers_refuse_bad_settings_in_coursekit_words():
    with pytest.raises(ValueError, match=r"num_heads=5 does not divide embed_dim=12"):
        GPTConfig(vocab_size=10, embed_dim=12, num_heads=5)
    with pytest.raises(UnknownArgumentError, match=r"'n_layer'"):
        GPTConfig(vocab_size=10, n_layer=2)
    with pytest.raises(TypeError, match=r"num_layers must be an int, got str '2'"):
        GPTConfig(vocab_size=10, num_layers="2")
    with pytest.raises(ValueError, match=r"positional must be one of .*'learned'"):
        GPTConfig(vocab_size=10, positional="learnt")
    with pytest.raises(TypeError, match=r"GPT takes a GPTConfig"):
        GPT({"vocab_size": 10})
    with pytest.raises(ValueError, match=r"activation must be one of 'relu', 'gelu'"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(UnknownArgumentError, match=r"'norm_frist'.*'norm_first'"):
        TransformerDecoderLayer(8, 2, norm_frist=True)
    with pytest.raises(IndexError, match=r"token id 13 is outside the vocabulary"):
        _gpt()(torch.full((1, 3), 13))
    with pytest.raises(ValueError, match=r"shape \(B, T\), got \(3,\)"):
        _gpt()(torch.zeros(3, dtype=torch.long))


ROOMS = {
    "attention.functional": "chapters 06 and 07",
    "attention.additive": "chapter 06",
    "attention.multihead": "chapter 07",
    "transformer.positional": "chapter 07",
    "transformer.layers": "chapter 07",
    "transformer.seq2seq": "chapter 07",
    "transformer.gpt": "chapter 08",
}


@pytest.mark.parametrize(("module", "chapter"), sorted(ROOMS.items()))
def test_each_room_names_its_chapter_has_a_shape_legend_and_stays_small(module, chapter):
    mod = importlib.import_module(f"coursekit.nn.{module}")
    assert chapter in " ".join(mod.__doc__.split("\n\n")[0].split())
    assert "Shapes:" in mod.__doc__
    assert len(Path(mod.__file__).read_text().splitlines()) < 400
