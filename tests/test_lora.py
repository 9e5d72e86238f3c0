"""coursekit.nn.lora against Hugging Face's peft: the same outputs, gradients, trainable counts and
merged weights in float64, on tiny random GPTs (both recipes) and a plain stack of linears; and
the errors that name the problem."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from coursekit.finetune import count_trainable
from coursekit.nn import GPT, GPTConfig
from coursekit.nn.lora import LoRALinear, add_lora, lora_layers, merge_lora

GPT2_TARGETS = ["out_proj", "linear1", "linear2"]
LLAMA_TARGETS = ["out_proj", "gate", "up", "down"]


def _gpt(recipe: str = "gpt2", seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    fields = {"vocab_size": 19, "context_size": 8, "embed_dim": 16, "num_heads": 2, "num_layers": 2}
    config = GPTConfig.llama(**fields) if recipe == "llama" else GPTConfig(**fields)
    return GPT(config).double().eval()


def _peft(model: nn.Module, targets: list[str], r: int, alpha: float) -> nn.Module:
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    return peft.get_peft_model(model, config)


def _same_adapters(ours: nn.Module, theirs: nn.Module, seed: int = 1) -> None:
    """Random A and B (B is zero at the start, which would hide a wrong product) in both."""
    g = torch.Generator().manual_seed(seed)
    inner = theirs.base_model.model
    for name, layer in lora_layers(ours).items():
        other = inner.get_submodule(name)
        with torch.no_grad():
            for mine, theirs_ in ((layer.lora_A, other.lora_A), (layer.lora_B, other.lora_B)):
                values = torch.randn(mine.shape, generator=g, dtype=torch.float64) * 0.3
                mine.copy_(values)
                theirs_["default"].weight.copy_(values)


@pytest.mark.parametrize(("recipe", "targets"), [("gpt2", GPT2_TARGETS), ("llama", LLAMA_TARGETS)])
def test_lora_gpt_matches_peft(recipe, targets):
    base = _gpt(recipe)
    r, alpha = 4, 8.0
    ours = add_lora(copy.deepcopy(base), targets, r=r, alpha=alpha)
    theirs = _peft(copy.deepcopy(base), targets, r, alpha)
    _same_adapters(ours, theirs)
    trainable, _ = theirs.get_nb_trainable_parameters()
    # per block r (in + out) for each target: out_proj 16+16; linear1, linear2 16+64; SwiGLU's
    # gate, up, down 16+42 (hidden width 8/3 * 16 = 42); two blocks
    per_block = {"gpt2": 32 + 2 * 80, "llama": 32 + 3 * 58}[recipe]
    assert count_trainable(ours) == trainable == 2 * r * per_block
    ids = torch.randint(0, 19, (3, 7), generator=torch.Generator().manual_seed(2))
    out_ours, out_theirs = ours(ids), theirs(ids)
    assert (out_ours - out_theirs).abs().max() < 1e-12
    weights = torch.randn(out_ours.shape, dtype=torch.float64)
    (out_ours * weights).sum().backward()
    (out_theirs * weights).sum().backward()
    inner = theirs.base_model.model
    for name, layer in lora_layers(ours).items():
        other = inner.get_submodule(name)
        for mine, their in ((layer.lora_A, other.lora_A), (layer.lora_B, other.lora_B)):
            assert (mine.grad - their["default"].weight.grad).abs().max() < 1e-12, name
    # merged: the same outputs from one matrix per layer, and peft's merge_and_unload weights
    with torch.no_grad():
        unmerged = ours(ids)
        for layer in lora_layers(ours).values():
            layer.merge()
        assert (ours(ids) - unmerged).abs().max() < 1e-12
        merged = theirs.merge_and_unload().state_dict()
        mine = {k: v for k, v in ours.state_dict().items() if "lora_" not in k}
        assert mine.keys() == merged.keys() == base.state_dict().keys()
        assert max((mine[k] - merged[k]).abs().max().item() for k in mine) < 1e-12


def test_lora_on_a_stack_of_linears_matches_peft():
    torch.manual_seed(3)
    base = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    base = base.double()
    ours = add_lora(copy.deepcopy(base), ["0", "4"], r=2, alpha=3.0)
    theirs = _peft(copy.deepcopy(base), ["0", "4"], 2, 3.0)
    _same_adapters(ours, theirs, seed=4)
    assert count_trainable(ours) == theirs.get_nb_trainable_parameters()[0] == 2 * (11 + 7)
    assert [n for n, p in ours.named_parameters() if p.requires_grad] == [
        "0.lora_A",
        "0.lora_B",
        "4.lora_A",
        "4.lora_B",
    ]
    x = torch.randn(8, 6, dtype=torch.float64, requires_grad=True)
    y_ours, y_theirs = ours(x), theirs(x)
    assert (y_ours - y_theirs).abs().max() < 1e-13
    grad_ours = torch.autograd.grad(y_ours.square().sum(), [ours[0].lora_A, ours[4].lora_B, x])
    inner = theirs.base_model.model
    grad_theirs = torch.autograd.grad(
        y_theirs.square().sum(),
        [inner[0].lora_A["default"].weight, inner[4].lora_B["default"].weight, x],
    )
    for a, b in zip(grad_ours, grad_theirs, strict=True):
        assert (a - b).abs().max() < 1e-13
    merged = merge_lora(copy.deepcopy(ours))
    assert all(type(m) is nn.Linear for m in (merged[0], merged[2], merged[4]))
    unloaded = theirs.merge_and_unload().state_dict()
    assert merged.state_dict().keys() == unloaded.keys()
    assert max((merged.state_dict()[k] - unloaded[k]).abs().max() for k in unloaded) < 1e-13
    with torch.no_grad():
        assert (merged(x) - y_ours).abs().max() < 1e-13


def test_lora_linear_starts_as_the_base_and_initialises_as_peft():
    torch.manual_seed(0)
    base = nn.Linear(64, 32)
    reference = base.weight.detach().clone()
    layer = LoRALinear(base, r=8, alpha=16)
    assert layer.weight is base.weight and not layer.weight.requires_grad
    assert (
        not layer.bias.requires_grad and layer.lora_A.requires_grad and layer.lora_B.requires_grad
    )
    assert layer.scale == 2.0 and torch.equal(layer.lora_B, torch.zeros(32, 8))
    bound = 1 / math.sqrt(64)  # kaiming_uniform(a=sqrt(5)), as nn.Linear and peft
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.abs().max() > 0.9 * bound
    x = torch.randn(2, 3, 64)
    assert torch.equal(layer(x), base(x))
    assert set(dict(layer.named_parameters())) == {"weight", "bias", "lora_A", "lora_B"}
    assert torch.equal(layer.weight, reference)


def test_merge_and_unmerge_round_trip():
    torch.manual_seed(1)
    layer = LoRALinear(nn.Linear(10, 6).double(), r=3, alpha=5.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    original = layer.weight.detach().clone()
    x = torch.randn(4, 10, dtype=torch.float64)
    before = layer(x)
    layer.merge()
    assert layer.merged and (layer(x) - before).abs().max() < 1e-13
    assert (layer.weight - original - 5.0 / 3 * layer.lora_B @ layer.lora_A).abs().max() < 1e-13
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()
    layer.unmerge()
    assert not layer.merged and (layer.weight - original).abs().max() < 1e-13
    assert (layer(x) - before).abs().max() < 1e-13
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()


def test_dropout_acts_on_the_lora_path_only():
    torch.manual_seed(2)
    layer = LoRALinear(nn.Linear(8, 8), r=2, alpha=2, dropout=0.5)
    x = torch.randn(16, 8)
    layer.train()
    assert torch.equal(layer(x), nn.functional.linear(x, layer.weight, layer.bias))  # B = 0
    with torch.no_grad():
        layer.lora_B.normal_()
    noisy = layer(x)
    layer.eval()
    exact = layer(x)
    assert not torch.allclose(noisy, exact)
    expected = nn.functional.linear(x, layer.weight, layer.bias) + (x @ layer.lora_A.T) @ (
        layer.lora_B.T
    )
    assert torch.allclose(exact, expected, atol=1e-6)


def test_add_lora_freezes_the_rest_and_keeps_the_names():
    model = _gpt()
    keys = set(model.state_dict())
    add_lora(model, ["out_proj"], r=2)
    assert set(model.state_dict()) - keys == {
        f"blocks.{i}.self_attn.out_proj.{m}" for i in range(2) for m in ("lora_A", "lora_B")
    }
    trains = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trains == [f"blocks.{i}.self_attn.out_proj.lora_{m}" for i in range(2) for m in "AB"]
    assert list(lora_layers(model)) == [
        "blocks.0.self_attn.out_proj",
        "blocks.1.self_attn.out_proj",
    ]
    only_first = add_lora(_gpt(), ["blocks.1.linear2"], r=2)  # a full dotted name
    assert list(lora_layers(only_first)) == ["blocks.1.linear2"]


def test_add_lora_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"'q_proj' matches no linear layer.*blocks\.0\.linear1"):
        add_lora(_gpt(), ["q_proj"])
    with pytest.raises(ValueError, match=r"by their last name: head, linear1, linear2, out_proj"):
        add_lora(_gpt(), ["q_proj"])
    with pytest.raises(ValueError, match=r"MultiHeadAttention, not an nn.Linear.*in_proj_weight"):
        add_lora(_gpt(), ["self_attn"])
    with pytest.raises(ValueError, match=r"Parameter, not an nn.Linear layer.*only nn.Linear"):
        add_lora(_gpt(), ["in_proj_weight"])
    model = _gpt()
    with pytest.raises(ValueError, match=r"r=32 is more than .*min\(16, 64\) = 16 for 'blocks"):
        add_lora(model, ["linear1"], r=32)
    assert not lora_layers(model) and all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match=r"r=3 is more than .*min\(2, 5\) = 2"):
        LoRALinear(nn.Linear(2, 5), r=3)
    with pytest.raises(ValueError, match=r"'head' shares its weight with tok.weight"):
        add_lora(_gpt(), ["head"])
    with pytest.raises(TypeError, match=r"target_modules=\['linear1'\]"):
        add_lora(_gpt(), "linear1")
    model = add_lora(_gpt(), ["linear1"], r=2)
    with pytest.raises(ValueError, match="has LoRA already"):
        add_lora(model, ["linear1"])
    with pytest.raises(TypeError, match=r"wraps an nn\.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1))
