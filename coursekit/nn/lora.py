"""LoRA, low-rank adaptation (Hu et al., 2021), written from the paper (chapter 09).

Fine-tuning changes a pretrained weight ``W (out, in)`` by some ``ΔW``. LoRA's bet is that the
change needs few directions: it freezes ``W`` and learns ``ΔW = (alpha / r) B A`` with
``A (r, in)`` and ``B (out, r)``, ``r`` much smaller than ``in`` and ``out``. A layer then
computes ``W x + (alpha / r) B A x``, training ``r (in + out)`` numbers instead of
``in * out``. ``B`` starts at zero, so the adapted model starts as the pretrained one; ``A``
starts random (the paper draws it from a Gaussian; here Kaiming-uniform, as ``nn.Linear`` and
Hugging Face's ``peft``), so ``B`` gets a gradient from the first step (``A`` gets none until
``B`` has moved). Dividing by ``r`` is there so that changing ``r`` needs less retuning of
the other hyperparameters (with Adam, tuning ``alpha`` is much like tuning the learning rate;
the paper sets ``alpha`` to the first ``r`` it tries and leaves it).

After training, :meth:`LoRALinear.merge` folds ``(alpha / r) B A`` into ``W``: the adapted layer is
an ordinary linear layer again, with no extra cost at inference; :meth:`LoRALinear.unmerge`
takes it out again, so one base model can carry several adapters in turn.

:func:`add_lora` puts :class:`LoRALinear` in place of chosen ``nn.Linear`` layers of a model and
freezes everything else. The wrapped layer keeps the base's parameter names (``weight``,
``bias``) and adds ``lora_A``, ``lora_B``, so a pretrained state dict still loads into the
adapted model (the LoRA matrices are its only missing keys). Only ``nn.Linear`` layers can be
targeted: coursekit's attention keeps ``Q, K, V`` as one packed ``in_proj_weight`` parameter
(``3C, C``), not as linear layers, so in a GPT the targets are the attention's ``out_proj`` and
the feed-forward layers (``linear1``, ``linear2``; ``gate``, ``up``, ``down`` in SwiGLU).

Shapes: N any leading dimensions, I in_features, O out_features, r rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn._checks import check_fraction, check_int, check_positive

__all__ = ["LoRALinear", "add_lora", "lora_layers", "merge_lora"]


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (LoRA; Hu et al., 2021; chapter 09):
    ``y = W x + b + (alpha / r) B A x``, with dropout on the input of the LoRA path.

    The base layer's ``weight`` and ``bias`` are taken over (the same Parameters, frozen), so
    the module has the base's parameter names plus ``lora_A`` ``(r, I)`` (Kaiming-uniform, as
    ``peft``) and ``lora_B`` ``(O, r)`` (zeros: the adapted layer starts equal to the base).

    Args:
        base: the ``nn.Linear`` to adapt.
        r: the rank, at most ``min(I, O)``.
        alpha: the scale numerator: the update is multiplied by ``alpha / r``.
        dropout: dropout on the LoRA path's input (training only); the base path has none.

    Shape:
        x ``(*N, I)`` -> ``(*N, O)``.

    >>> _ = torch.manual_seed(0)
    >>> layer = LoRALinear(nn.Linear(6, 4), r=2, alpha=4)
    >>> layer.lora_A.shape, layer.lora_B.shape, layer.scale
    (torch.Size([2, 6]), torch.Size([4, 2]), 2.0)
    >>> x = torch.randn(3, 6)
    >>> torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))  # B = 0 at the start
    True
    """

    def __init__(
        self, base: nn.Linear, r: int = 8, alpha: float = 8.0, dropout: float = 0.0
    ) -> None:
        owner = type(self).__name__
        if not isinstance(base, nn.Linear):
            raise TypeError(
                f"{owner} wraps an nn.Linear, got {type(base).__name__}: only linear layers "
                f"take a LoRA update here."
            )
        check_int(owner, "r", r)
        check_positive(owner, "alpha", alpha)
        check_fraction(owner, "dropout", dropout)
        if r > min(base.in_features, base.out_features):
            raise ValueError(
                f"{owner}: rank r={r} is more than min(in_features, out_features) = "
                f"min({base.in_features}, {base.out_features}) = "
                f"{min(base.in_features, base.out_features)}: a product B A of that rank cannot "
                f"exist, and a full-rank update is ordinary fine-tuning: use "
                f"r <= {min(base.in_features, base.out_features)}."
            )
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.alpha, self.scale = r, float(alpha), alpha / r
        self.weight = base.weight.requires_grad_(False)  # (O, I), the pretrained W
        self.bias = None if base.bias is None else base.bias.requires_grad_(False)  # (O,)
        kw = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, **kw))  # (r, I)
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, **kw))  # (O, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's, and peft's
        self.dropout = nn.Dropout(dropout)
        self.merged = False

    def delta_weight(self) -> Tensor:
        """The update ``(alpha / r) B A``, ``(O, I)``, that :meth:`merge` adds to ``weight``."""
        return self.scale * (self.lora_B @ self.lora_A)  # (O, I)

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x, self.weight, self.bias)  # (*N, O)
        if self.merged:  # the update is inside weight already
            return out
        low = F.linear(self.dropout(x), self.lora_A)  # (*N, r)
        return out + self.scale * F.linear(low, self.lora_B)  # (*N, O)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into ``weight``: the same outputs (without dropout) from one matmul."""
        if self.merged:
            raise RuntimeError(
                f"{type(self).__name__}: already merged; call unmerge() before merging again."
            )
        self.weight += self.delta_weight().to(self.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out of ``weight`` again (after :meth:`merge`), to train it further or
        swap in another adapter."""
        if not self.merged:
            raise RuntimeError(f"{type(self).__name__}: not merged; there is nothing to unmerge.")
        self.weight -= self.delta_weight().to(self.weight.dtype)
        self.merged = False

    def to_linear(self) -> nn.Linear:
        """An ``nn.Linear`` whose weight is ``W + (alpha / r) B A`` (merged or not; this layer is
        left as it is)."""
        linear = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        with torch.no_grad():
            merged = self.weight if self.merged else self.weight + self.delta_weight()
            linear.weight.copy_(merged)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
            f"alpha={self.alpha:g}, merged={self.merged}"
        )


def _matches(name: str, target: str) -> bool:
    """peft's rule: the full dotted name, or its ending after a dot (``"out_proj"`` matches
    ``"blocks.0.self_attn.out_proj"``)."""
    return name == target or name.endswith("." + target)


def _not_linear_hint(model: nn.Module, target: str) -> str | None:
    """Why ``target`` names something that is not an ``nn.Linear``, or None if it names nothing."""
    for name, module in model.named_modules():
        if name and _matches(name, target) and not isinstance(module, nn.Linear):
            kind = type(module).__name__
            packed = hasattr(module, "in_proj_weight")
            more = (
                " Its Q, K, V projections are one packed in_proj_weight Parameter (3C, C), not "
                "nn.Linear layers; target its out_proj instead."
                if packed
                else ""
            )
            return f"{name!r} is a {kind}, not an nn.Linear: only nn.Linear layers are targetable.{more}"
    for name, _ in model.named_parameters():
        if _matches(name, target):
            return (
                f"{name!r} is a Parameter, not an nn.Linear layer: only nn.Linear layers are "
                f"targetable (coursekit's attention packs Q, K, V into one in_proj_weight; "
                f"target out_proj and the feed-forward layers)."
            )
    return None


def add_lora(
    model: nn.Module,
    target_modules: Iterable[str],
    *,
    r: int = 8,
    alpha: float = 8.0,
    dropout: float = 0.0,
) -> nn.Module:
    """Replace the chosen ``nn.Linear`` layers of ``model`` by :class:`LoRALinear` s, in place,
    and freeze every other parameter (chapter 09); return ``model``.

    Args:
        model: any module; its ``nn.Linear`` layers can be targeted.
        target_modules: names of layers, each the full dotted name (``"blocks.0.linear1"``) or
            its ending after a dot (``"linear1"``: every block's), as in ``peft``'s
            ``LoraConfig``. Each must match at least one linear layer.
        r, alpha, dropout: as :class:`LoRALinear` (defaults: peft's ``r=8, lora_alpha=8``).

    Raises:
        ValueError: a target that matches no linear layer (the available ones are listed), or
            names a layer that is not an ``nn.Linear``; a rank above a layer's
            ``min(in_features, out_features)``.

    >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> net = add_lora(net, ["0"], r=2)
    >>> [n for n, p in net.named_parameters() if p.requires_grad]
    ['0.lora_A', '0.lora_B']
    """
    if isinstance(target_modules, str):
        raise TypeError(
            f"add_lora: target_modules is a list of names, got the string {target_modules!r}: "
            f"write target_modules=[{target_modules!r}]."
        )
    targets = list(target_modules)
    if not targets:
        raise ValueError("add_lora: target_modules is empty: name the linear layers to adapt.")
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    chosen = [n for n in linears if any(_matches(n, t) for t in targets)]
    for target in targets:
        if any(_matches(n, target) for n in chosen):
            continue
        adapted = [n for n in lora_layers(model) if _matches(n, target)]
        if adapted:
            raise ValueError(
                f"add_lora: target {target!r} has LoRA already ({', '.join(adapted)}): "
                f"add_lora once per model, or merge_lora(model) first."
            )
        hint = _not_linear_hint(model, target)
        if hint is not None:
            raise ValueError(f"add_lora: target {target!r}: {hint}")
        endings = sorted({n.rsplit(".", 1)[-1] for n in linears})
        raise ValueError(
            f"add_lora: target {target!r} matches no linear layer of {type(model).__name__}. "
            f"Its nn.Linear layers: {', '.join(linears) or 'none'} (by their last name: "
            f"{', '.join(endings) or 'none'})."
        )
    check_int("add_lora", "r", r)
    for name in chosen:  # every check before the model changes
        layer = model.get_submodule(name)
        smaller = min(layer.in_features, layer.out_features)
        if r > smaller:
            raise ValueError(
                f"add_lora: rank r={r} is more than min(in_features, out_features) = "
                f"min({layer.in_features}, {layer.out_features}) = {smaller} for {name!r}: "
                f"use r <= {smaller}, or leave {name!r} out of target_modules."
            )
    owners: dict[int, list[str]] = {}  # a tied matrix has several names
    for name, p in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(p), []).append(name)
    for name in chosen:
        tied = [n for n in owners[id(model.get_submodule(name).weight)] if n != f"{name}.weight"]
        if tied:
            raise ValueError(
                f"add_lora: {name!r} shares its weight with {', '.join(tied)} (tied weights): "
                f"merging its update would change those too. Leave it out of target_modules, or "
                f"untie it first (a GPT with GPTConfig(tie_weights=False))."
            )
    for p in model.parameters():
        p.requires_grad_(False)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(
            parent, child, LoRALinear(getattr(parent, child), r=r, alpha=alpha, dropout=dropout)
        )
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The :class:`LoRALinear` layers of ``model`` by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """Put an ordinary ``nn.Linear`` with the merged weight ``W + (alpha / r) B A`` in place of
    every :class:`LoRALinear` of ``model`` (``peft``'s ``merge_and_unload``); return ``model``.
    The state dict then has the keys of the model before :func:`add_lora`."""
    for name, layer in lora_layers(model).items():
        parent_name, _, child = name.rpartition(".")
        linear = layer.to_linear()
        linear.weight.requires_grad_(layer.weight.requires_grad)
        setattr(model.get_submodule(parent_name), child, linear)
    return model
