"""Batching: LM windows shift by one, padding and masks, seq2seq and classification collates,
determinism given a seed, and the same batches with DataLoader workers."""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data.batching import (
    ClassificationCollate,
    LMWindows,
    Seq2SeqCollate,
    encode_labelled,
    encode_pairs,
    lm_windows,
    make_loader,
    pad_batch,
    random_lm_batch,
)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 300), st.integers(1, 20), st.integers(1, 25))
def test_lm_windows_target_is_input_shifted_by_one(length, seq_len, stride):
    ids = torch.arange(length) * 7 % 101
    if length < seq_len + 1:
        with pytest.raises(ValueError, match="too short"):
            lm_windows(ids, seq_len, stride)
        return
    x, y = lm_windows(ids, seq_len, stride)
    assert x.shape == y.shape == ((length - seq_len - 1) // stride + 1, seq_len)
    for n in range(x.shape[0]):
        start = n * stride
        assert torch.equal(x[n], ids[start : start + seq_len])
        assert torch.equal(y[n], ids[start + 1 : start + seq_len + 1])


def test_lm_windows_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        lm_windows([1, 2, 3], 0)
    with pytest.raises(ValueError, match="1-D"):
        lm_windows(torch.zeros(2, 3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="too short"):
        lm_windows([], 4)


def test_random_lm_batch_is_reproducible_and_shifted():
    ids = torch.arange(1000)
    a = random_lm_batch(ids, 8, 16, torch.Generator().manual_seed(3))
    b = random_lm_batch(ids, 8, 16, torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    x, y = a
    assert x.shape == (8, 16) and torch.equal(y, x + 1)


def test_pad_batch_and_mask():
    ids, mask = pad_batch([[1, 2, 3], [4], torch.tensor([5, 6])], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0], [5, 6, 0]]
    assert mask.sum(1).tolist() == [3, 1, 2] and mask.dtype == torch.bool
    ids, _ = pad_batch([[1, 2, 3, 4]], max_len=2)
    assert ids.tolist() == [[1, 2]]
    with pytest.raises(ValueError, match="at least one"):
        pad_batch([])


def test_seq2seq_collate_teacher_forcing_layout():
    batch = Seq2SeqCollate(pad_id=0, bos_id=2, eos_id=3)([([10, 11, 12], [20]), ([13], [21, 22])])
    assert batch.src.tolist() == [[10, 11, 12], [13, 0, 0]]
    assert batch.src_mask.tolist() == [[True] * 3, [True, False, False]]
    assert batch.tgt_in.tolist() == [[2, 20, 0], [2, 21, 22]]
    assert batch.tgt_out.tolist() == [[20, 3, 0], [21, 22, 3]]
    assert batch.tgt_mask.tolist() == [[True, True, False], [True, True, True]]
    # the decoder input at step t+1 is the target at step t
    assert torch.equal(
        batch.tgt_in[:, 1:][batch.tgt_mask[:, 1:]], batch.tgt_out[:, :-1][batch.tgt_mask[:, 1:]]
    )
    assert batch.to("cpu").src is not None


def test_classification_collate():
    batch = ClassificationCollate(bos_id=2, max_len=3)([([5, 6, 7, 8], 1), ([9], 0)])
    assert batch.ids.tolist() == [[2, 5, 6], [2, 9, 0]]
    assert batch.labels.tolist() == [1, 0] and batch.labels.dtype == torch.long


def _epoch(loader):
    return [tuple(t.clone() for t in batch) for batch in loader]


def test_loader_order_depends_only_on_the_seed():
    ds = LMWindows(torch.arange(500), seq_len=8)
    a = _epoch(make_loader(ds, 4, shuffle=True, seed=7))
    b = _epoch(make_loader(ds, 4, shuffle=True, seed=7))
    c = _epoch(make_loader(ds, 4, shuffle=True, seed=8))
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p[0], q[0]) for p, q in zip(a, c, strict=True))


def test_collates_are_picklable_and_workers_give_the_same_batches():
    pairs = [([i, i + 1, i + 2][: 1 + i % 3], [i] * (1 + i % 2)) for i in range(4, 40)]
    collate = Seq2SeqCollate()
    assert pickle.loads(pickle.dumps(collate)) == collate
    serial = list(make_loader(pairs, 5, shuffle=True, seed=1, collate_fn=collate))
    workers = list(make_loader(pairs, 5, shuffle=True, seed=1, collate_fn=collate, num_workers=2))
    assert len(serial) == len(workers) == 8
    for p, q in zip(serial, workers, strict=True):
        assert torch.equal(p.src, q.src) and torch.equal(p.tgt_out, q.tgt_out)
    labelled = [([i, i + 1], i % 3) for i in range(10)]
    batches = list(make_loader(labelled, 4, collate_fn=ClassificationCollate(), num_workers=2))
    assert [b.labels.tolist() for b in batches] == [[0, 1, 2, 0], [1, 2, 0, 1], [2, 0]]


def test_end_to_end_on_bundled_pairs_and_labels():
    from coursekit.data import CharTokenizer, WordTokenizer, load_labelled, load_pairs

    pairs = load_pairs("bible_kjv_web", "valid")
    tok = WordTokenizer.train([a + " " + b for a, b in pairs], lowercase=True)
    encoded = encode_pairs(pairs, tok, max_len=20)
    assert 0 < len(encoded) < len(pairs) and all(len(s) <= 20 for s, _ in encoded)
    batch = next(iter(make_loader(encoded, 8, shuffle=True, seed=0, collate_fn=Seq2SeqCollate())))
    assert batch.src.shape[0] == 8 and batch.tgt_in.shape == batch.tgt_out.shape

    train = load_labelled("zh_reviews_sentiment", "valid")
    chars = CharTokenizer.train("".join(t for t, _ in train))
    items, labels = encode_labelled(train, chars)
    assert labels == ["neg", "pos"]
    test_items, _ = encode_labelled(load_labelled("zh_reviews_sentiment", "test"), chars, labels)
    assert any(chars.unk_id in ids for ids, _ in test_items)  # unseen characters become <unk>
    with pytest.raises(ValueError, match="not in the label list"):
        encode_labelled([("x", "neutral")], chars, labels)
    batch = ClassificationCollate(max_len=64)(items[:4])
    assert batch.ids.shape[0] == 4 and batch.ids.shape[1] <= 64


def test_sharded_loaders_split_every_epoch_between_the_ranks():
    ds = LMWindows(torch.arange(250), seq_len=5)  # 49 windows: 25 per rank (one repeated)
    loaders = [make_loader(ds, 4, shuffle=True, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    epochs = []
    for epoch in (0, 1):
        seen = []
        for loader in loaders:
            loader.sampler.set_epoch(epoch)
            seen.append([int(x[0]) // 5 for xs, _ in loader for x in xs])
        assert len(seen[0]) == len(seen[1]) == 25
        assert set(seen[0]) | set(seen[1]) == set(range(49))
        assert len(set(seen[0]) & set(seen[1])) <= 1  # only the padding sample
        epochs.append(seen)
    assert epochs[0] != epochs[1]  # set_epoch reshuffles
    with pytest.raises(ValueError, match="num_replicas and rank together"):
        make_loader(ds, 4, rank=1)


def test_batches_move_with_their_tensors():
    meta = torch.device("meta")
    s2s = Seq2SeqCollate()([([5, 6], [7])]).to(meta, non_blocking=True)
    cls = ClassificationCollate()([([4, 5], 1)]).to(meta)
    assert (
        {t.device for t in vars(s2s).values()} == {meta} == {t.device for t in vars(cls).values()}
    )
