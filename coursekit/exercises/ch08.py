"""Checkers for chapter 08 (pretraining): one BPE merge step, top-p (nucleus) filtering and BERT's
80/10/10 masking.

Each checker compares the answer with the usual wrong answers first (overlapping pairs merged
twice, the token that crosses the threshold dropped, the mask applied to every chosen position,
...) and names the mistake; then with coursekit's result.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from coursekit.data.bpe import merge as merge_reference
from coursekit.exercises.core import Exercise, ExerciseResult
from coursekit.generate import filter_logits
from coursekit.pretraining import IGNORE

__all__ = ["check_masking", "check_merge", "check_top_p"]


def _greedy_overlapping(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """The wrong merge that replaces every occurrence, overlaps included ("aaa" -> X X)."""
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            out.append(ids[i])
    return out


def check_merge(merge: Callable[[list[int], tuple[int, int], int], list[int]]) -> ExerciseResult:
    """``merge(ids, pair, new_id)``: a new list where every occurrence of ``pair``, left to right
    and without overlaps, is replaced by ``new_id``."""
    with Exercise("08.1 one BPE merge step") as ex:
        cases = [
            ([1, 2, 3, 1, 2], (1, 2), 9),  # two occurrences
            ([5, 5, 5], (5, 5), 7),  # overlapping: only the first pair merges
            ([5, 5, 5, 5], (5, 5), 7),  # two disjoint pairs
            ([1, 2], (2, 1), 9),  # no occurrence
            ([4, 1, 2], (1, 2), 8),  # at the end
        ]
        for ids, pair, new_id in cases:
            before = list(ids)
            out = ex.call(merge, ids, pair, new_id)
            ex.check(
                ids == before, "merge changed the list it was given: build and return a new one."
            )
            ex.check_type(out, list, f"merge({before}, {pair}, {new_id})")
            expected = merge_reference(before, pair, new_id)
            if out == _greedy_overlapping(before, pair, new_id) and out != expected:
                ex.fail(
                    f"merge({before}, {pair}, {new_id}) gave {out}: overlapping occurrences were "
                    f"both merged. After merging a pair, skip past both of its tokens (i += 2), "
                    f"so {before} gives {expected}."
                )
            if len(out) == len(before) and out != expected:
                ex.fail(
                    f"merge({before}, {pair}, {new_id}) gave {out}: a merged pair must become one "
                    f"token, so the list gets shorter by one per merge; expected {expected}."
                )
            ex.check(
                out == expected, f"merge({before}, {pair}, {new_id}) gave {out}, not {expected}."
            )
    return ex.result


def _kept_strictly_below(logits: torch.Tensor, p: float) -> torch.Tensor:
    """The wrong top-p that keeps only the tokens whose running total stays within ``p``."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    keep_sorted = probs.cumsum(-1) <= p
    keep_sorted[..., 0] = True
    return keep_sorted.scatter(-1, order, keep_sorted)


def check_top_p(top_p_filter: Callable[[torch.Tensor, float], torch.Tensor]) -> ExerciseResult:
    """``top_p_filter(logits (B, V), p)``: the logits with ``-inf`` outside the smallest set of most
    likely tokens whose probabilities add up to at least ``p`` (the top token always stays)."""
    with Exercise("08.2 top-p (nucleus) filtering") as ex:
        logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]]))
        for p in (0.45, 0.7, 0.85, 0.97, 0.1):  # none on a boundary
            out = ex.call(top_p_filter, logits.clone(), p)
            ex.check_shape(out, tuple(logits.shape), f"top_p_filter(logits, {p})")
            kept = torch.isfinite(torch.as_tensor(out))
            expected = torch.isfinite(filter_logits(logits, top_p=p))
            if torch.equal(kept, _kept_strictly_below(logits, p)) and not torch.equal(
                kept, expected
            ):
                ex.fail(
                    f"at p = {p} you dropped the token that takes the total past p: keep every "
                    "token whose mass *before* it is still below p (cumsum - probs < p), so the "
                    "kept set adds up to at least p."
                )
            if torch.equal(kept, expected.flip(-1)) and not torch.equal(kept, expected):
                ex.fail(
                    "you kept the least likely tokens: sort the probabilities in descending order "
                    "(torch.sort(..., descending=True))."
                )
            ex.check(
                torch.equal(kept, expected),
                f"at p = {p} the kept tokens are {kept.int().tolist()}, expected "
                f"{expected.int().tolist()} (1 = kept).",
            )
            ex.check_close(
                torch.as_tensor(out)[kept], logits[kept], "the kept logits must stay as they were"
            )
        g = torch.Generator().manual_seed(8)
        big = torch.randn(3, 50, generator=g)
        out = ex.call(top_p_filter, big.clone(), 0.9)
        ex.check(
            torch.equal(
                torch.isfinite(torch.as_tensor(out)), torch.isfinite(filter_logits(big, top_p=0.9))
            ),
            "on random logits (3, 50) at p = 0.9 the kept set differs from "
            "coursekit.generate.filter_logits(logits, top_p=0.9).",
        )
    return ex.result


def check_masking(
    mask_tokens: Callable[..., tuple[torch.Tensor, torch.Tensor]],
) -> ExerciseResult:
    """``mask_tokens(ids, mask_id, vocab_size, generator) -> (inputs, targets)``: BERT's 80/10/10
    corruption of 15% of the positions; ``targets`` is -100 where nothing is predicted."""
    with Exercise("08.3 BERT's masking: 15% chosen, 80/10/10") as ex:
        ids = torch.randint(0, 40, (100, 400), generator=torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(0)
        out = ex.call(mask_tokens, ids.clone(), 40, 40, g)
        ex.check(isinstance(out, tuple) and len(out) == 2, "return (inputs, targets), a pair.")
        inputs, targets = (torch.as_tensor(t) for t in out)
        ex.check_shape(inputs, tuple(ids.shape), "inputs")
        ex.check_shape(targets, tuple(ids.shape), "targets")
        chosen = targets != IGNORE
        share = chosen.float().mean().item()
        ex.check(
            abs(share - 0.15) < 0.01,
            f"{share:.1%} of the positions have a target; BERT predicts 15% (the rest of "
            "targets must be -100, torch's ignored index).",
        )
        ex.check(
            torch.equal(targets[chosen], ids[chosen]),
            "the targets of chosen positions must be the original tokens (what was hidden).",
        )
        ex.check(
            torch.equal(inputs[~chosen], ids[~chosen]),
            "positions that are not chosen must stay as they are in the inputs.",
        )
        masked = (inputs[chosen] == 40).float().mean().item()
        if masked > 0.97:
            ex.fail(
                "every chosen position became the mask token; BERT masks 80% of them, replaces "
                "10% by a random token and leaves 10% as they are (so the model cannot rely on "
                "seeing the mask, which never appears at fine-tuning time)."
            )
        ex.check(
            abs(masked - 0.8) < 0.02, f"{masked:.1%} of the chosen positions are masked, not 80%."
        )
        same = (inputs[chosen] == ids[chosen]).float().mean().item()
        ex.check(
            abs(same - 0.1) < 0.02,
            f"{same:.1%} of the chosen positions are unchanged; 10% should be (plus the few "
            "random replacements that draw the original token).",
        )
        ex.check(
            int((inputs[chosen] >= 40).sum()) == int((inputs[chosen] == 40).sum()),
            "random replacements must be regular tokens, ids in [0, vocab_size).",
        )
    return ex.result
