"""coursekit.finetune's task and runs (chapter 09): the gloss task encoded with the course's
tokenizer, balanced label budgets, length-bucketed stateless batches, one fine-tuning run through
the one loop, and the measured label-budget curve's file."""

from __future__ import annotations

import json

import pytest
import torch

from coursekit.data import load_labelled
from coursekit.data.batching import ClassificationCollate
from coursekit.finetune import (
    ClassificationTask,
    build_classifier,
    count_trainable,
    finetune,
    load_task,
    measured_finetuning,
    runs,
    score,
)
from coursekit.nn import GPT, GPTConfig
from coursekit.nn.lora import lora_layers
from coursekit.pretrain import load_pretrained


@pytest.fixture(scope="module")
def course():
    return load_pretrained()


@pytest.fixture(scope="module")
def task(course):
    return load_task(course.tokenizer)


def test_the_gloss_task_is_read_as_pretraining_read_it(course, task):
    tok = course.tokenizer
    assert (len(task.train), len(task.valid), len(task.test)) == (4800, 600, 600)
    assert len(task.classes) == 10 and task.classes == sorted(task.classes)
    text, label = load_labelled("wordnet_gloss10", "valid")[0]
    assert task.valid[0] == (tok.encode(text), task.classes.index(label))
    batch = task.collate(task.valid[:4])
    assert (batch.ids[:, 0] == tok.eos_id).all()  # <|endoftext|> in front, as between documents
    long = max(task.train, key=lambda item: len(item[0]))
    assert len(long[0]) > 47 and task.collate([long]).ids.shape == (1, 48)
    train_texts = {t for t, _ in load_labelled("wordnet_gloss10", "train")}
    assert not train_texts & {t for t, _ in load_labelled("wordnet_gloss10", "test")}


def test_load_task_wants_the_pretrained_tokenizer():
    from coursekit.data import CharTokenizer

    chars = CharTokenizer.train("abc")
    chars.eos_id = None
    with pytest.raises(ValueError, match="eos_id"):
        load_task(chars)
    with pytest.raises(ValueError, match="max_len"):
        load_task(chars, max_len=1)


def test_budgets_are_balanced_and_reproducible(task):
    small = task.budget(20, seed=3)
    assert len(small) == 20
    assert torch.bincount(torch.tensor([y for _, y in small]), minlength=10).tolist() == [2] * 10
    assert small == task.budget(20, seed=3) and small != task.budget(20, seed=4)
    hundred = task.budget(100, seed=3)
    assert len({id(item) for item in hundred}) == 100  # drawn without replacement
    with pytest.raises(ValueError, match="n must be"):
        task.budget(5)
    with pytest.raises(ValueError, match="at most 4800"):
        task.budget(5000)


def _padding(batches) -> float:
    return 1 - sum(b.mask.sum().item() for b in batches) / sum(b.mask.numel() for b in batches)


def test_bucketed_batches_are_stateless_epochs_with_little_padding(task):
    batches = task.batches(task.train, batch_size=32, seed=1)
    assert len(batches) == 150
    assert torch.equal(batches(7).ids, task.batches(task.train, 32, seed=1)(7).ids)
    epoch = [batches(i) for i in range(len(batches))]
    seen = [tuple(row.tolist()) for b in epoch for row in b.ids]
    assert len(set(seen)) > 0.97 * len(seen)  # every item once (a few glosses are duplicates)
    assert not torch.equal(batches(0).ids, batches(150).ids)  # the next epoch is reshuffled
    g = torch.Generator().manual_seed(0)
    random = [task.collate([task.train[int(k)] for k in torch.randint(4800, (32,), generator=g)])
              for _ in range(150)]  # fmt: skip
    assert _padding(epoch) < 0.5 * _padding(random)
    tiny = task.batches(task.budget(20), batch_size=32)
    assert len(tiny) == 1 and tiny(5).ids.shape[0] == 20  # a budget smaller than a batch
    with pytest.raises(ValueError, match="no items"):
        task.batches([])


def test_eval_batches_cover_each_item_once(task):
    batches = task.eval_batches("test", batch_size=64)
    assert sum(len(b.labels) for b in batches) == 600
    assert sorted(torch.cat([b.labels for b in batches]).tolist()) == sorted(
        y for _, y in task.test
    )
    with pytest.raises(ValueError, match="split must be"):
        task.eval_batches("dev")


def _tiny_task() -> ClassificationTask:
    """Texts labelled by which of the tokens 1, 2, 3 they hold: learnable in a few steps."""
    g = torch.Generator().manual_seed(0)

    def items(n):
        out = []
        for _ in range(n):
            label, length = int(torch.randint(0, 3, (), generator=g)), 6
            ids = torch.randint(4, 23, (length,), generator=g)
            ids[int(torch.randint(0, length, (), generator=g))] = label + 1
            out.append((ids.tolist(), label))
        return out

    collate = ClassificationCollate(pad_id=0, bos_id=0, max_len=12)
    return ClassificationTask("tiny", ["a", "b", "c"], items(192), items(96), items(96), collate)


def _tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=23, context_size=12, embed_dim=16, num_heads=2, num_layers=2))


def test_a_run_leaves_the_pretrained_model_alone_and_learns():
    gpt, tiny = _tiny_gpt(), _tiny_task()
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    model = build_classifier(gpt, 3, "full", seed=0)
    history = finetune(model, tiny, tiny.train, "full", lr=3e-3, steps=80, batch_size=16)
    assert len(history.train_loss) == 80
    assert all(torch.equal(before[k], v) for k, v in gpt.state_dict().items())
    assert score(model, tiny, "test")["accuracy"] > 0.7  # chance is 1/3
    scratch = build_classifier(gpt, 3, from_scratch=True, seed=1)
    assert not torch.equal(scratch.body.tok.weight, gpt.tok.weight)
    lora = build_classifier(gpt, 3, "lora", rank=2)
    assert set(lora_layers(lora.body)) and count_trainable(lora) < count_trainable(model) / 5
    with pytest.raises(ValueError, match="mode"):
        build_classifier(gpt, 3, "adapters")


def test_a_run_passes_its_precision_to_the_loop(monkeypatch):
    gpt, tiny = _tiny_gpt(), _tiny_task()
    model = build_classifier(gpt, 3, "full", seed=0)
    seen = []
    real_train = runs.train
    monkeypatch.setattr(
        runs, "train", lambda *a, **k: seen.append(k["precision"]) or real_train(*a, **k)
    )
    fp32 = finetune(model, tiny, tiny.train, "full", lr=3e-3, steps=2, precision="fp32")
    finetune(model, tiny, tiny.train, "full", lr=3e-3, steps=2)
    assert seen == ["fp32", "auto"] and len(fp32.train_loss) == 2
    with pytest.raises(ValueError, match="precision must be one of"):
        finetune(model, tiny, tiny.train, "full", lr=3e-3, steps=2, precision="fp16")


def test_the_measured_curve_is_complete_or_named_broken(tmp_path, monkeypatch):
    data = measured_finetuning()
    sides = {(p["labels"], p["side"]) for p in data["curve"]}
    assert sides == {(int(n), s) for n in data["budgets"] for s in ("pretrained", "scratch")}
    for point in data["curve"]:
        assert len(point["test_accuracy"]) == len(data["seeds"]) >= 3
        tried = sorted(map(float, point["valid_by_lr"]))
        assert set(data["lr_grid"]) <= set(tried) <= set(data["lr_ladder"])
        assert point["valid_by_lr"][str(point["lr"])] == max(point["valid_by_lr"].values())
        ladder = data["lr_ladder"]  # the side's best rate on valid, and never an untried edge
        assert point["lr"] not in (tried[0], tried[-1]) or point["lr"] in (ladder[0], ladder[-1])
        assert all(0 <= a <= 1 for a in point["test_accuracy"])
    broken = tmp_path / "finetuning_measured.json"
    broken.write_text(json.dumps({"curve": None}))
    monkeypatch.setattr(runs, "_MEASURED", broken)
    with pytest.raises(RuntimeError, match="no curve"):
        measured_finetuning()
    monkeypatch.setattr(runs, "_MEASURED", tmp_path / "missing.json")
    with pytest.raises(RuntimeError, match="measure again"):
        measured_finetuning()


def test_split_features_line_up_with_the_items_and_budgets(course, task):
    from coursekit.finetune import split_features

    features, labels = split_features(course.model, task, "valid", ["last"])
    assert labels.tolist() == [y for _, y in task.valid]
    batch = task.collate([task.valid[5], task.valid[123]])
    with torch.no_grad():
        states = course.model.features(batch.ids)
    last = batch.mask.sum(1) - 1
    torch.testing.assert_close(features["last"][[5, 123]], states[torch.arange(2), last])
    index = task.budget_index(30, seed=2)
    assert [task.train[i] for i in index] == task.budget(30, seed=2)
