"""coursekit.nn.recurrent.seq2seq (chapter 06's GRU encoder-decoder) and coursekit.translation:
shapes, config errors, padding that changes nothing, decoding with the hidden state against
re-reading the prefix, the copy mechanism's distribution, a short training run that must learn, and
the baselines and scoring of the translation task."""

from __future__ import annotations

import pytest
import torch

from coursekit.data.batching import Seq2SeqCollate
from coursekit.nn.recurrent.seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from coursekit.seq2seq import beam_search, greedy_decode, seq2seq_loss
from coursekit.translation import (
    LEARNING_RATES,
    SubstitutionBaseline,
    copy_baseline,
    detokenize,
    load_translation_task,
    measured_budgets,
    score,
    translate,
)

V = 13


def make(seed=0, **kw) -> RNNSeq2Seq:
    torch.manual_seed(seed)
    kw = {"vocab_size": V, "embed_dim": 6, "hidden_size": 8, "attention_size": 5} | kw
    return RNNSeq2Seq(RNNSeq2SeqConfig(**kw)).double().eval()


def batch(seed=0, B=3):
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(B):
        s = int(torch.randint(1, 7, (1,), generator=g))
        t = int(torch.randint(1, 5, (1,), generator=g))
        pairs.append(
            (
                torch.randint(4, V, (s,), generator=g).tolist(),
                torch.randint(4, V, (t,), generator=g).tolist(),
            )
        )
    return Seq2SeqCollate()(pairs)


KINDS = [{"attention": "none"}, {"attention": "additive"}, {"attention": "additive", "copy": True}]


@pytest.mark.parametrize("kw", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_shapes_and_padding_changes_nothing(kw, seed):
    model, b = make(seed, **kw), batch(seed)
    logits = model(b.src, b.tgt_in, b.src_mask)
    assert logits.shape == (*b.tgt_in.shape, V)
    # each row alone, without padding, gives the same logits as inside the padded batch
    for k in range(b.src.shape[0]):
        s = b.src[k, b.src_mask[k]][None]
        alone = model(s, b.tgt_in[k : k + 1])
        torch.testing.assert_close(alone, logits[k : k + 1])


@pytest.mark.parametrize("kw", KINDS)
def test_decoding_with_state_equals_rereading_the_prefix(kw):
    model, b = make(2, **kw), batch(2, B=4)
    cached = greedy_decode(model, b.src, b.src_mask, max_len=7)
    again = greedy_decode(model, b.src, b.src_mask, max_len=7, use_cache=False)
    assert torch.equal(cached, again)
    # and teacher forcing on the decoded prefix predicts each decoded token, up to <eos>
    bos = torch.full((cached.shape[0], 1), 2)
    predicted = model(b.src, torch.cat([bos, cached[:, :-1]], 1), b.src_mask).argmax(-1)  # (B, L)
    decoded = cached  # greedy_decode returns the tokens after <bos>
    is_eos = (decoded == 3).long()
    live = (is_eos.cumsum(1) - is_eos) == 0  # no <eos> before this position
    assert torch.equal(predicted[live], decoded[live])


def test_beam_of_one_is_greedy_and_beam_runs():
    model, b = make(3), batch(3, B=4)
    greedy = greedy_decode(model, b.src, b.src_mask, max_len=6)
    beam1 = beam_search(model, b.src, b.src_mask, beam_size=1, max_len=6)
    n = min(greedy.shape[1], beam1.shape[1])
    assert torch.equal(greedy[:, :n], beam1[:, :n])
    assert beam_search(model, b.src, b.src_mask, beam_size=3, max_len=6).shape[0] == 4


def test_copy_is_a_distribution_that_can_point_at_source_words():
    model, b = make(4, copy=True), batch(4)
    probs = model(b.src, b.tgt_in, b.src_mask).exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:2], dtype=probs.dtype))
    # with the gate shut, all mass sits on the source's own words
    with torch.no_grad():
        model.gate.bias.fill_(-50.0)
    probs = model(b.src, b.tgt_in, b.src_mask).exp()
    for k in range(b.src.shape[0]):
        words = set(b.src[k, b.src_mask[k]].tolist())
        on_source = probs[k][:, sorted(words)].sum(-1)
        torch.testing.assert_close(on_source, torch.ones_like(on_source), atol=1e-6, rtol=0)


def test_attention_weights_are_masked_rows_summing_to_one():
    model, b = make(5), batch(5)
    w = model.attention_weights(b.src, b.tgt_in, b.src_mask)
    assert w.shape == (*b.tgt_in.shape, b.src.shape[1])
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:2], dtype=w.dtype))
    assert float(w.detach().masked_select(~b.src_mask[:, None, :].expand_as(w)).abs().max()) == 0.0
    with pytest.raises(ValueError, match="attention='none'"):
        make(attention="none").attention_weights(b.src, b.tgt_in, b.src_mask)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"hidden_size": 7}, "must be even"),
        ({"attention": "dot"}, "attention"),
        ({"attention": "none", "copy": True}, "needs attention='additive'"),
        ({"dropout": 1.5}, "dropout"),
        ({"vocab_size": 0}, "vocab_size"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        RNNSeq2SeqConfig(**({"vocab_size": V} | kw))


def test_bad_input_errors():
    model, b = make(), batch()
    with pytest.raises(ValueError, match="src_mask must be a bool tensor"):
        model(b.src, b.tgt_in, b.src_mask.long())
    with pytest.raises(TypeError, match="RNNSeq2SeqConfig"):
        RNNSeq2Seq({"vocab_size": V})
    with pytest.raises(IndexError, match="outside the vocabulary"):
        model(torch.full((2, 3), V + 5), b.tgt_in[:2])


def test_learns_to_reverse_with_attention():
    """A convergence bound: reversing 5 symbols, 300 steps; attention brings the loss far down."""
    torch.manual_seed(0)
    model = RNNSeq2Seq(
        RNNSeq2SeqConfig(vocab_size=V, embed_dim=16, hidden_size=32, attention_size=16)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    collate = Seq2SeqCollate()
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        src = torch.randint(4, V, (32, 5), generator=g).tolist()
        b = collate([(s, s[::-1]) for s in src])
        loss, _ = seq2seq_loss(model, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3, loss.item()


def test_translation_task_baselines_and_scores():
    task = load_translation_task(max_tokens=12)
    assert len(task.train) > 500 and task.valid and task.test
    assert all(len(s.split()) <= 12 + 4 for s, _ in task.test)
    sources, refs = zip(*task.valid, strict=True)
    copied = score(copy_baseline(sources), refs)
    substituted = score(SubstitutionBaseline(task.train).translate(sources), refs)
    assert 0 < copied["BLEU"] < 100 and substituted["BLEU"] > copied["BLEU"]
    assert score(list(refs), refs)["BLEU"] == pytest.approx(100.0)
    assert detokenize("Go , now .") == "Go, now."
    with pytest.raises(ValueError, match="split must be"):
        task.pairs("dev")
    with pytest.raises(ValueError, match="max_tokens"):
        load_translation_task(max_tokens=0)
    batches = task.batches("train", batch_size=16, seed=1)
    assert len(batches) == -(-len(task.train) // 16)
    assert torch.equal(batches(3).src, task.batches("train", batch_size=16, seed=1)(3).src)


def test_translate_runs_any_protocol_model():
    task = load_translation_task(max_tokens=12)
    torch.manual_seed(0)
    model = RNNSeq2Seq(
        RNNSeq2SeqConfig(vocab_size=len(task.tokenizer.itos), embed_dim=8, hidden_size=8)
    )
    sources = [s for s, _ in task.valid[:5]]
    greedy = translate(model, task, sources, max_len=4)
    beam = translate(model, task, sources, beam_size=2, max_len=4)
    assert len(greedy) == len(beam) == 5 and all(isinstance(t, str) for t in greedy)


def test_measured_budgets_match_the_task_they_were_measured_on():
    """The stored longer runs (scripts/bench_translation.py) were measured on today's data: their
    baselines equal the baselines computed now, and every model has every budget."""
    measured = measured_budgets()
    task = load_translation_task(measured["task"]["name"], measured["task"]["max_tokens"])
    assert measured["task"]["train_pairs"] == len(task.train)
    sources, refs = zip(*task.test, strict=True)
    now = score(copy_baseline(sources), refs)
    assert measured["baselines"]["test"]["copy the input"]["BLEU"] == pytest.approx(now["BLEU"])
    budgets = {(r["model"], r["steps"]) for r in measured["runs"]}
    for model in LEARNING_RATES:  # every model at the chapters' 230 steps and at longer budgets
        steps = {s for m, s in budgets if m == model}
        assert 230 in steps and len(steps) >= 2, (model, steps)
    at_230 = [r for r in measured["runs"] if r["steps"] == 230]
    assert all(r["lr"] == LEARNING_RATES[r["model"]] for r in at_230)  # the chapters' settings
    for run in measured["runs"]:
        assert 0 <= run["test"]["BLEU"] <= 100 and 0 <= run["valid"]["chrF"] <= 100


def test_measured_budgets_explain_a_broken_file(monkeypatch, tmp_path):
    import coursekit.translation as translation

    broken = tmp_path / "translation_measured.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(translation, "MEASURED_FILE", broken)
    with pytest.raises(RuntimeError, match=r"bench_translation\.py"):
        translation.measured_budgets()
