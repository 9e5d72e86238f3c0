"""coursekit.finetune: GPT.features, the classifier (pooling, padding), its loss and predictions,
the three fine-tuning modes through the one training loop, and the errors that name the problem.
Tiny random GPTs only (the course's pretrained one is not needed)."""

from __future__ import annotations

import copy

import pytest
import torch

from coursekit.data.batching import ClassificationBatch, ClassificationCollate
from coursekit.finetune import (
    ClassifierConfig,
    GPTClassifier,
    classification_loss,
    count_trainable,
    finetune_optimizer,
    load_body,
    param_groups,
    predict,
    set_trainable,
)
from coursekit.nn import GPT, GPTConfig
from coursekit.nn.lora import add_lora
from coursekit.train import train

V, C, L = 23, 16, 3


def _body(recipe: str = "gpt2", seed: int = 0, **fields) -> GPT:
    torch.manual_seed(seed)
    shape = {"vocab_size": V, "context_size": 12, "embed_dim": C, "num_heads": 2, "num_layers": L}
    shape.update(fields)
    config = GPTConfig.llama(**shape) if recipe == "llama" else GPTConfig(**shape)
    return GPT(config)


def _classifier(pooling: str = "last", recipe: str = "gpt2", seed: int = 0, **fields):
    return GPTClassifier(_body(recipe, seed, **fields), ClassifierConfig(3, pooling=pooling))


def _items(n: int, seed: int = 0) -> list[tuple[list[int], int]]:
    """Texts whose label is which of the tokens 1, 2, 3 they contain (learnable in a few steps)."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        label = int(torch.randint(0, 3, (), generator=g))
        length = int(torch.randint(2, 9, (), generator=g))
        ids = torch.randint(4, V, (length,), generator=g)
        ids[int(torch.randint(0, length, (), generator=g))] = label + 1
        items.append((ids.tolist(), label))
    return items


def test_features_are_the_states_before_the_output_layer():
    for recipe in ("gpt2", "llama"):
        model = _body(recipe).double().eval()
        ids = torch.randint(0, V, (2, 7))
        states = model.features(ids)
        assert states.shape == (2, 7, C)
        assert torch.equal(model.head(states), model(ids))
    with pytest.raises(ValueError, match="context_size=12"):
        _body().features(torch.zeros(1, 13, dtype=torch.long))


@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("recipe", ["gpt2", "llama"])
def test_more_padding_changes_nothing(pooling, recipe):
    model = _classifier(pooling, recipe).double().eval()
    short, long = [5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15, 16]
    alone = model(*_collated([(short, 0)]))
    batch = model(*_collated([(short, 0), (long, 1)]))  # six padding tokens after `short`
    assert (alone[0] - batch[0]).abs().max() < 1e-12
    again = model(*_collated([(long, 1), (short, 0), ([4], 2)]))
    assert (again[1] - batch[0]).abs().max() < 1e-12 and (again[0] - batch[1]).abs().max() < 1e-12


def _collated(items):
    batch = ClassificationCollate(pad_id=0)(items)
    return batch.ids, batch.mask


def test_pooling_reads_the_last_or_the_mean_real_state():
    model = _classifier("last").double().eval()
    ids, mask = _collated([([5, 6, 7], 0), ([8], 1)])
    states = model.body.features(ids)
    assert torch.equal(model.pool(states, mask), torch.stack([states[0, 2], states[1, 0]]))
    assert torch.allclose(model(ids, mask), model.head(torch.stack([states[0, 2], states[1, 0]])))
    model.config = ClassifierConfig(3, pooling="mean")
    mean = model.pool(states, mask)
    assert torch.allclose(mean[0], states[0].mean(0)) and torch.allclose(mean[1], states[1, 0])
    batch = ClassificationCollate()([([5, 6, 7], 0), ([8], 1)])
    assert torch.equal(model(batch), model(batch.ids, batch.mask))  # a batch works as input


def test_classifier_refuses_bad_masks_and_bodies():
    model = _classifier()
    ids = torch.tensor([[5, 6, 0], [0, 7, 8]])
    with pytest.raises(ValueError, match=r"row 1 .*padding before real tokens.*\[0, 1, 1\]"):
        model(ids, ids != 0)
    with pytest.raises(ValueError, match="row 0 of the mask has no real token"):
        model(ids, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask \(2, 2\) and ids \(2, 3\)"):
        model(ids, torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="causal=False"):
        GPTClassifier(_body(causal=False), ClassifierConfig(2))
    with pytest.raises(TypeError, match="takes a coursekit GPT"):
        GPTClassifier(torch.nn.Linear(2, 2), ClassifierConfig(2))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        ClassifierConfig(1)
    with pytest.raises(TypeError, match="unknown argument 'num_labels'"):
        ClassifierConfig(num_labels=3)


def test_loss_checks_labels_before_torch_does():
    model = _classifier()
    batch = ClassificationCollate()([([5, 6], 0), ([7], 3)])
    with pytest.raises(ValueError, match=r"label 3 is outside the classes 0\.\.2 \(num_classes=3"):
        classification_loss(model, batch)
    negative = ClassificationBatch(batch.ids, batch.mask, torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="label -1 is outside"):
        classification_loss(model, negative)
    floats = ClassificationBatch(batch.ids, batch.mask, torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="class ids"):
        classification_loss(model, floats)
    good = ClassificationBatch(batch.ids, batch.mask, torch.tensor([0, 2]))
    loss, extras = classification_loss(model, good)
    logits = model(good.ids, good.mask)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, good.labels))
    assert extras["accuracy"] == (logits.argmax(-1) == good.labels).double().mean()


def test_probe_trains_the_head_only_through_the_one_loop():
    model = _classifier()
    before = copy.deepcopy(model.body.state_dict())
    head = model.head.weight.detach().clone()
    opt = finetune_optimizer(model, "probe", lr=0.05)
    assert count_trainable(model) == C * 3 + 3
    batches = [ClassificationCollate()(_items(16, seed=s)) for s in range(4)]
    history = train(
        model, batches, optimizer=opt, loss_fn=classification_loss, steps=8, progress=False,
        live_plot=False, valid_batches=batches[:1],
    )  # fmt: skip
    assert len(history.metrics["accuracy"]) == 8 and "accuracy" in history.valid_metrics
    after = model.body.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(head, model.head.weight)


def test_full_fine_tuning_learns_the_task():
    model = _classifier("last", seed=1)
    opt = finetune_optimizer(model, "full", lr=3e-3, head_lr=1e-2, layer_decay=0.8)
    assert count_trainable(model) == sum(p.numel() for p in model.parameters())
    train_batches = [ClassificationCollate()(_items(32, seed=s)) for s in range(8)]
    valid = [ClassificationCollate()(_items(64, seed=100))]
    loss_before = classification_loss(model, valid[0])[0].item()
    train(model, train_batches, optimizer=opt, loss_fn=classification_loss, steps=60,
          progress=False, live_plot=False, seed=0)  # fmt: skip
    predictions, labels = predict(model, valid)
    assert predictions.shape == labels.shape == (64,)
    assert classification_loss(model, valid[0])[0].item() < loss_before
    assert (predictions == labels).double().mean() > 0.6  # chance is 1/3


def test_lora_mode_trains_the_adapters_and_the_head():
    model = _classifier(recipe="llama")
    with pytest.raises(ValueError, match=r"needs LoRA layers.*add_lora\(classifier.body"):
        set_trainable(model, "lora")
    add_lora(model.body, ["out_proj", "gate", "up", "down"], r=2)
    with pytest.raises(ValueError, match=r"has LoRA layers.*use mode='lora'"):
        set_trainable(model, "full")
    opt = finetune_optimizer(model, "lora", lr=1e-2)
    trains = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all("lora_" in n or n.startswith("head.") for n in trains)
    hidden = model.body.config.hidden_dim
    assert count_trainable(model) == L * 2 * (2 * C + 3 * (C + hidden)) + C * 3 + 3
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    batches = [ClassificationCollate()(_items(16, seed=s)) for s in range(3)]
    train(model, batches, optimizer=opt, loss_fn=classification_loss, steps=3, progress=False,
          live_plot=False)  # fmt: skip
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert model.body.blocks[0].ff.up.lora_B.abs().sum() > 0  # B moved off zero


def test_param_groups_give_discriminative_rates():
    model = _classifier()
    groups = param_groups(model, "full", lr=1.0, head_lr=10.0, layer_decay=0.5, weight_decay=0.1)
    rates = {g["name"]: g["lr"] for g in groups}
    assert rates["head"] == 10.0 and rates["top (no decay)"] == 1.0
    assert [rates[f"block {i}"] for i in range(L)] == [0.25, 0.5, 1.0]
    assert rates["embeddings"] == 0.125
    decayed = {g["name"]: g["weight_decay"] for g in groups}
    assert decayed["block 0"] == 0.1 and decayed["block 0 (no decay)"] == 0.0
    held = [id(p) for g in groups for p in g["params"]]
    assert len(held) == len(set(held)) == len(list(model.parameters()))  # tied matrix once
    assert all(p.dim() >= 2 for g in groups if g["weight_decay"] for p in g["params"])
    with pytest.raises(ValueError, match="linear probe freezes"):
        param_groups(model, "probe", lr=1e-3, layer_decay=0.5)
    with pytest.raises(ValueError, match=r"layer_decay must be in \(0, 1\]"):
        param_groups(model, "full", lr=1e-3, layer_decay=2.6)
    with pytest.raises(ValueError, match="mode must be one of 'probe', 'full', 'lora'"):
        param_groups(model, "linear", lr=1e-3)


def test_untied_output_layer_stays_frozen():
    model = _classifier(tie_weights=False)
    set_trainable(model, "full")
    assert not model.body.head.weight.requires_grad  # it gets no gradient from the classifier
    assert model.body.tok.weight.requires_grad


def test_load_body_names_the_keys_of_another_architecture(tmp_path):
    model = _classifier()
    pretrained = _body(seed=5)
    load_body(model, pretrained.state_dict())
    assert torch.equal(model.body.tok.weight, pretrained.tok.weight)
    add_lora(model.body, ["linear1"], r=2)
    keys = load_body(model, pretrained.state_dict())  # LoRA's matrices are not in a GPT's file
    assert keys.missing == [f"blocks.{i}.linear1.lora_{m}" for i in range(L) for m in "AB"]
    torch.save(_body("llama").state_dict(), tmp_path / "llama.pt")
    with pytest.raises(
        ValueError, match=r"llama\.pt are not a GPT of the body's architecture"
    ) as e:
        load_body(model, tmp_path / "llama.pt")
    assert "missing: pos.embedding.weight, blocks.N.self_attn.in_proj_bias" in str(e.value)
    assert "unexpected: blocks.N.ff.gate.weight, blocks.N.ff.up.weight" in str(e.value)
    assert "GPTConfig(vocab_size=23" in str(e.value)
    with pytest.raises(
        ValueError, match=r"other shapes: tok\.weight \(23, 32\) for the body's \(23, 16\)"
    ):
        load_body(model, _body(embed_dim=32).state_dict())
    partial = {"tok.weight": torch.zeros(V, C)}
    with pytest.raises(ValueError, match=r"missing: pos\.embedding\.weight, blocks\.N\."):
        load_body(model, partial)
    assert not torch.equal(model.body.tok.weight, partial["tok.weight"])  # nothing was loaded


def test_the_package_rooms_export_each_name_once():
    import importlib
    from pathlib import Path

    import coursekit.finetune

    exported = set()
    for room in ("classifier", "modes", "probe", "runs", "task"):
        mod = importlib.import_module(f"coursekit.finetune.{room}")
        assert "chapter 09" in mod.__doc__.splitlines()[0]
        assert len(Path(mod.__file__).read_text().splitlines()) < 400
        for name in mod.__all__:
            assert getattr(coursekit.finetune, name) is getattr(mod, name), name
            exported.add(name)
    assert exported == set(coursekit.finetune.__all__)
