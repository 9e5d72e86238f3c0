"""coursekit.seq2seq: the loss, greedy decoding and beam search on a model whose next-token
probabilities are a fixed table (so the best sequence is known, and exhaustive search is the
reference), on the Transformer (cache against no cache, beam 1 against greedy, batched against one
source at a time) and a short training run on reversal."""

from __future__ import annotations

import functools
import itertools
import math

import pytest
import torch
from torch import nn

from coursekit.data.batching import Seq2SeqCollate
from coursekit.nn.transformer import Seq2SeqTransformer, Seq2SeqTransformerConfig
from coursekit.seq2seq import (
    EncoderDecoder,
    beam_hypotheses,
    beam_search,
    gnmt_penalty,
    greedy_decode,
    select_rows,
    seq2seq_loss,
    trim,
)
from coursekit.train import train, warmup_cosine

PAD, BOS, EOS = 0, 2, 3
A, B_, C = 4, 5, 1  # the words of the table model (1 is <unk>, a word like any other here)
V = 6


class TableModel(nn.Module):
    """Next-token probabilities from a table keyed by the generated prefix (no <bos>); rows whose
    prefix is not in the table get ``default``. The state is the ids fed so far, batch first."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], default=None) -> None:
        super().__init__()
        self.table, self.default = table, default or {EOS: 0.5, A: 0.3, B_: 0.2}
        self.calls = 0

    def _logits(self, prefix: tuple[int, ...]) -> torch.Tensor:
        probs = self.table.get(prefix, self.default)
        logits = torch.full((V,), -math.inf, dtype=torch.float64)
        for token, p in probs.items():
            logits[token] = math.log(p)
        return logits

    def encode(self, src, src_mask):
        return src.double()  # (B, S), unused

    def decode_step(self, tokens, memory, src_mask, state):
        self.calls += 1
        ids = tokens if state is None else torch.cat([state, tokens], dim=1)  # (B, t)
        logits = torch.stack([self._logits(tuple(row[1:])) for row in ids.tolist()])
        return logits, ids


def _p(**probs) -> dict[int, float]:
    names = {"a": A, "b": B_, "c": C, "eos": EOS}
    return {names[k]: v for k, v in probs.items()}


SRC = torch.full((1, 2), 7)


def test_the_table_model_follows_the_protocol():
    assert isinstance(TableModel({}), EncoderDecoder)
    assert not isinstance(nn.Linear(2, 2), EncoderDecoder)


def test_beam_search_finds_the_best_sequence_that_greedy_misses():
    # P(a)=0.6 but every continuation of a is poor; P(b eos) = 0.4 * 0.9 = 0.36 is the best.
    table = {(): _p(a=0.6, b=0.4), (A,): _p(a=0.34, b=0.33, eos=0.33), (B_,): _p(eos=0.9, a=0.1)}
    model = TableModel(table)
    greedy = greedy_decode(model, SRC, None, max_len=5)
    assert trim(greedy) == [[A, A]]  # a a eos: 0.6 * 0.34 * 0.5 = 0.102
    assert greedy.tolist() == [[A, A, EOS]]
    best = beam_hypotheses(model, SRC, None, beam_size=2, max_len=5)[0][0]
    assert best.ids == [B_, EOS] and math.isclose(best.log_prob, math.log(0.36))
    assert beam_search(model, SRC, None, beam_size=2, max_len=5).tolist() == [[B_, EOS]]


def test_length_normalisation_changes_the_choice():
    # a eos: 0.52; b b b eos: 0.48 * 0.99**3 = 0.466 is less likely but longer.
    table = {(): _p(a=0.52, b=0.48), (A,): _p(eos=0.99, a=0.01)}
    table |= {(B_,): _p(b=0.99, eos=0.01), (B_, B_): _p(b=0.99, eos=0.01)}
    table |= {(B_, B_, B_): _p(eos=0.99, b=0.01)}
    model = TableModel(table)
    raw = beam_hypotheses(model, SRC, None, beam_size=3, max_len=6, length_penalty=0.0)[0]
    normed = beam_hypotheses(model, SRC, None, beam_size=3, max_len=6, length_penalty=1.0)[0]
    assert raw[0].ids == [A, EOS]
    assert normed[0].ids == [B_, B_, B_, EOS]
    long_score = math.log(0.48 * 0.99**3) / gnmt_penalty(4, 1.0)
    assert math.isclose(normed[0].score, long_score) and gnmt_penalty(4, 1.0) == 1.5


def _all_outputs(model, max_len):
    """Every output of at most max_len tokens: words then <eos>, or max_len words."""
    words = [C, A, B_]
    out = []
    for n in range(max_len + 1):
        for seq in itertools.product(words, repeat=n):
            ids = [*seq, EOS] if n < max_len else list(seq)
            logp = sum(float(model._logits(tuple(ids[:i]))[t]) for i, t in enumerate(ids))
            out.append((ids, logp))
    return out


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_beam_agrees_with_exhaustive_search(alpha):
    gen = torch.Generator().manual_seed(int(alpha * 10))
    table = {}
    for n in range(3):
        for prefix in itertools.product([C, A, B_], repeat=n):
            p = torch.rand(4, generator=gen, dtype=torch.float64) + 0.05
            table[prefix] = dict(zip([C, A, B_, EOS], (p / p.sum()).tolist(), strict=True))
    model = TableModel(table)
    found = beam_hypotheses(model, SRC, None, beam_size=64, max_len=3, length_penalty=alpha)[0]
    exhaustive = sorted(
        ((ids, lp, lp / gnmt_penalty(len(ids), alpha)) for ids, lp in _all_outputs(model, 3)),
        key=lambda h: h[2],
        reverse=True,
    )
    assert len(found) == len(exhaustive) == 1 + 3 + 9 + 27
    assert [h.ids for h in found] == [ids for ids, _, _ in exhaustive]
    for h, (_, lp, score) in zip(found, exhaustive, strict=True):
        assert math.isclose(h.log_prob, lp, abs_tol=1e-9)
        assert math.isclose(h.score, score, abs_tol=1e-9)
    narrow = beam_hypotheses(model, SRC, None, beam_size=2, max_len=3, length_penalty=alpha)[0]
    assert narrow[0].score <= found[0].score + 1e-12


def test_the_table_model_decodes_the_same_with_and_without_its_state():
    table = {(): _p(a=0.6, b=0.4), (A,): _p(a=0.34, b=0.33, eos=0.33), (B_,): _p(eos=0.9, a=0.1)}
    model = TableModel(table)
    for kw in ({}, {"use_cache": False}):
        assert beam_search(model, SRC, None, beam_size=2, max_len=5, **kw).tolist() == [[B_, EOS]]
        assert greedy_decode(model, SRC, None, max_len=5, **kw).tolist() == [[A, A, EOS]]


def _transformer(seed=0):
    torch.manual_seed(seed)
    config = Seq2SeqTransformerConfig(
        12, 10, embed_dim=16, num_heads=2, ff_dim=32, dropout=0.0,
        num_encoder_layers=1, num_decoder_layers=2,
    )  # fmt: skip
    return Seq2SeqTransformer(config).double()


def _sources():
    gen = torch.Generator().manual_seed(3)
    src = torch.randint(4, 12, (4, 6), generator=gen)
    mask = torch.ones_like(src, dtype=torch.bool)
    mask[1, 4:] = mask[3, 2:] = False
    return src.masked_fill(~mask, PAD), mask


def _assert_same_hypotheses(found, wanted):
    """The same ids in the same order, with the same scores, for every source."""
    assert [[h.ids for h in hyps] for hyps in found] == [[h.ids for h in hyps] for hyps in wanted]
    for hyps, refs in zip(found, wanted, strict=True):
        for h, r in zip(hyps, refs, strict=True):
            assert math.isclose(h.score, r.score, abs_tol=1e-9)


def test_the_transformer_steps_give_the_logits_of_teacher_forcing():
    model, (src, mask) = _transformer(), _sources()
    assert isinstance(model, EncoderDecoder)
    tgt = torch.randint(4, 10, (4, 5), generator=torch.Generator().manual_seed(1))
    full = model(src, tgt, mask)  # (B, T, V)
    memory, state = model.encode(src, mask), None
    for t in range(5):
        logits, state = model.decode_step(tgt[:, t : t + 1], memory, mask, state)
        torch.testing.assert_close(logits, full[:, t])
        torch.testing.assert_close(model.decode_step(tgt[:, : t + 1], memory, mask)[0], full[:, t])
    assert len(state) == 5


def test_transformer_decoding_with_the_kv_cache_equals_decoding_without_it():
    model, (src, mask) = _transformer(), _sources()
    torch.testing.assert_close(
        greedy_decode(model, src, mask, max_len=9),
        greedy_decode(model, src, mask, 9, use_cache=False),
    )
    cached = beam_hypotheses(model, src, mask, beam_size=3, max_len=9, length_penalty=0.7)
    plain = beam_hypotheses(model, src, mask, 3, 9, 0.7, use_cache=False)
    _assert_same_hypotheses(cached, plain)


def test_beam_size_one_without_length_normalisation_is_greedy_decoding():
    # <eos> is second at the first step, and more likely than anything greedy ends with:
    # a beam of one keeps only the best extension, as greedy does.
    table = TableModel({(): _p(a=0.6, eos=0.4), (A,): _p(a=0.36, b=0.34, eos=0.3)})
    assert greedy_decode(table, SRC, None, max_len=6).tolist() == [[A, A, EOS]]
    assert beam_search(table, SRC, None, beam_size=1, max_len=6).tolist() == [[A, A, EOS]]
    model, (src, mask) = _transformer(1), _sources()
    greedy = greedy_decode(model, src, mask, max_len=9)
    beam = beam_search(model, src, mask, beam_size=1, max_len=9)
    assert torch.equal(beam, greedy[:, : beam.size(1)]) and beam.size(1) == greedy.size(1)


def test_a_batch_of_sources_is_searched_as_each_source_alone():
    model, (src, mask) = _transformer(2), _sources()
    batched = beam_hypotheses(model, src, mask, beam_size=3, max_len=8, length_penalty=0.6)
    alone = [
        beam_hypotheses(model, row[None, : int(m.sum())], None, 3, 8, 0.6)[0]  # no padding
        for row, m in zip(src, mask, strict=True)
    ]
    _assert_same_hypotheses(batched, alone)


def test_decoding_restores_the_mode_and_refuses_what_cannot_work():
    model, (src, mask) = _transformer(), _sources()
    model.train()
    greedy_decode(model, src, mask, max_len=3)
    beam_search(model, src, mask, beam_size=2, max_len=3)
    assert model.training
    with pytest.raises(TypeError, match=r"Linear does not follow the encoder-decoder protocol"):
        greedy_decode(nn.Linear(2, 2), src, mask)
    with pytest.raises(ValueError, match=r"src_mask must have the shape of src \(4, 6\)"):
        beam_search(model, src, mask[:, :3])
    with pytest.raises(ValueError, match=r"beam_size must be a positive int, got 0"):
        beam_search(model, src, mask, beam_size=0)
    with pytest.raises(ValueError, match=r"length_penalty \(alpha\) must be >= 0"):
        beam_search(model, src, mask, length_penalty=-1.0)
    with pytest.raises(ValueError, match=r"max_len must be a positive int"):
        greedy_decode(model, src, mask, max_len=0)
    with pytest.raises(TypeError, match=r"cannot select batch rows of a str"):
        select_rows("state", torch.tensor([0]))


def test_seq2seq_loss_scores_only_real_target_tokens():
    model = _transformer()
    batch = Seq2SeqCollate()([([5, 6, 7], [4, 5]), ([8], [6, 7, 8, 9])])
    loss, extras = seq2seq_loss(model, batch)
    logits = model(batch.src, batch.tgt_in, batch.src_mask)  # (B, T, V)
    keep = batch.tgt_out != PAD
    picked = torch.log_softmax(logits, -1).gather(-1, batch.tgt_out[..., None])[..., 0][keep]
    torch.testing.assert_close(loss, -picked.mean())
    assert int(extras["tokens"]) == 2 + 1 + 4 + 1  # targets and their <eos>
    with pytest.raises(
        TypeError, match=r"seq2seq_loss needs a Seq2SeqBatch .*without src, src_mask"
    ):
        seq2seq_loss(model, (batch.src, batch.tgt_in))


class TinyGRUSeq2Seq(nn.Module):
    """Chapter 06's shape of model: a GRU encoder whose last state starts a GRU decoder. Its
    state is the GRU's ``(layers, B, H)``, batch on dim 1, so it defines ``reorder_state``."""

    def __init__(self, vocab: int = 10, hidden: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.decoder = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def encode(self, src, src_mask):
        _, h = self.encoder(self.embed(src) * src_mask[..., None])  # h (1, B, H)
        return h.transpose(0, 1)  # memory (B, 1, H): batch first, as the protocol asks

    def decode_step(self, tokens, memory, src_mask, state):
        h = memory.transpose(0, 1).contiguous() if state is None else state  # (1, B, H)
        out, h = self.decoder(self.embed(tokens), h)  # (B, t, H)
        return self.head(out[:, -1]), h

    def reorder_state(self, state, index):
        return state.index_select(1, index)


def test_an_rnn_encoder_decoder_with_its_own_reorder_state_decodes_with_and_without_it():
    torch.manual_seed(0)
    model, (src, mask) = TinyGRUSeq2Seq().double(), _sources()
    src = src.clamp(max=9)
    assert isinstance(model, EncoderDecoder)
    torch.testing.assert_close(
        greedy_decode(model, src, mask, max_len=7),
        greedy_decode(model, src, mask, max_len=7, use_cache=False),
    )
    cached = beam_hypotheses(model, src, mask, beam_size=4, max_len=7, length_penalty=0.6)
    plain = beam_hypotheses(model, src, mask, 4, 7, 0.6, use_cache=False)
    _assert_same_hypotheses(cached, plain)


def _reversal_batch(i: int, size: int = 32, seed: int = 0):
    gen = torch.Generator().manual_seed(seed * 100_003 + i)
    pairs = []
    for _ in range(size):
        n = int(torch.randint(3, 7, (1,), generator=gen))
        seq = torch.randint(4, 12, (n,), generator=gen).tolist()
        pairs.append((seq, seq[::-1]))
    return Seq2SeqCollate()(pairs)


def test_a_small_transformer_learns_to_reverse_and_greedy_decoding_reads_it_out():
    torch.manual_seed(0)
    config = Seq2SeqTransformerConfig(
        12, 12, embed_dim=32, num_heads=4, ff_dim=64, dropout=0.0, max_len=16,
        num_encoder_layers=2, num_decoder_layers=2, norm_first=True, positional="learned",
    )  # fmt: skip
    model = Seq2SeqTransformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    history = train(
        model,
        _reversal_batch,
        optimizer=optimizer,
        scheduler=warmup_cosine(optimizer, 30, 300),
        loss_fn=functools.partial(seq2seq_loss, ignore_index=PAD),
        steps=300,
        progress=False,
        live_plot=False,
    )
    assert history.metrics["tokens"][-1] > 32 * 4  # the extra reached the history
    assert sum(history.train_loss[-10:]) / 10 < 0.2  # about 0.03-0.05 over four seeds
    held_out = _reversal_batch(0, size=64, seed=1)
    decoded = trim(greedy_decode(model, held_out.src, held_out.src_mask, max_len=8))
    wanted = trim(held_out.tgt_out)
    accuracy = sum(d == w for d, w in zip(decoded, wanted, strict=True)) / len(wanted)
    assert accuracy >= 0.85, accuracy  # 0.97-1.0 over four seeds
    beamed = trim(beam_search(model, held_out.src, held_out.src_mask, beam_size=3, max_len=8))
    assert sum(d == w for d, w in zip(beamed, wanted, strict=True)) / len(wanted) >= 0.85
