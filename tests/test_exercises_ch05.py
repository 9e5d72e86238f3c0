"""Checkers of chapter 05: the reference passes, wrong answers fail with a message naming why."""

from __future__ import annotations

import pytest
import torch

from coursekit.exercises import ch05
from coursekit.nn import gru_step


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSEKIT_STRICT_EXERCISES", raising=False)


# --- reference solutions (the notebook holds the same) -------------------------------------------
def update_gate_product(x, w_ih, b_ih, b_hh):
    _, z, _ = (x @ w_ih.T + b_ih + b_hh).chunk(3, dim=-1)  # (B, T, H) each
    return torch.sigmoid(z).prod(dim=1)


def flip(state):
    out = {k: v.clone() for k, v in state.items()}
    for v in out.values():
        hidden = v.shape[0] // 3
        v[hidden : 2 * hidden] *= -1
    return out


def gru_sequence(x, h, w_ih, w_hh, b_ih, b_hh):
    xp = x @ w_ih.T + b_ih  # (B, T, 3H): the input projection of every step at once
    outputs = []
    for xp_t in xp.unbind(1):
        h = gru_step(xp_t, h, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h


def not_yet(*args):
    raise NotImplementedError


CASES = [
    (ch05.check_update_gate_product, update_gate_product),
    (ch05.check_flip_update_gate, flip),
    (ch05.check_gru_sequence, gru_sequence),
]


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_reference_passes(checker, reference):
    assert checker(reference).passed


@pytest.mark.parametrize(("checker", "reference"), CASES)
def test_unattempted_is_not_attempted(checker, reference):
    result = checker(not_yet)
    assert result.status == "not attempted"
    assert "`not_yet`" in result.message


def _gate_product(index, one_minus=False, biases=True):
    def product(x, w_ih, b_ih, b_hh):
        pre = x @ w_ih.T + b_ih + (b_hh if biases else 0)
        gate = torch.sigmoid(pre.chunk(3, dim=-1)[index])
        return (1 - gate if one_minus else gate).prod(dim=1)

    return product


def _flip_everything(state):
    return {k: -v for k, v in state.items()}


def _gru_sequence_stuck(x, h, *weights):
    outs = [gru_sequence(x[:, t : t + 1], h, *weights)[1] for t in range(x.shape[1])]
    return torch.stack(outs, 1), outs[-1]


def _gru_sequence_reversed(x, h, *weights):
    outputs, last = gru_sequence(x, h, *weights)
    return outputs.flip(1), last


def _gru_sequence_first_state(x, h, *weights):
    return gru_sequence(x, h, *weights)[0], h


def _gru_sequence_off(x, h, *weights):
    outputs, last = gru_sequence(x, h, *weights)
    return outputs + 1e-3, last


def _gru_sequence_last_off(x, h, *weights):
    outputs, last = gru_sequence(x, h, *weights)
    return outputs, last + 1e-3


WRONG = [
    # generic placeholders
    (ch05.check_update_gate_product, lambda x, w, b, c: torch.zeros(3, 4), "all zeros"),
    (ch05.check_update_gate_product, lambda x, w, b, c: x, "should have shape (3, 4)"),
    (ch05.check_flip_update_gate, lambda s: s, "nothing changed"),
    (
        ch05.check_flip_update_gate,
        lambda s: {k: torch.zeros_like(v) for k, v in s.items()},
        "only the update gate's rows",
    ),
    (
        ch05.check_gru_sequence,
        lambda x, h, *w: (torch.zeros(3, 5, 4), torch.zeros(3, 4)),
        "all zeros",
    ),
    (ch05.check_gru_sequence, lambda x, h, *w: (x, h), "should have shape (3, 5, 4)"),
    (
        ch05.check_gru_sequence,
        lambda x, h, *w: (h.unsqueeze(1).expand(3, 5, 4), h),
        "`h0` returned unchanged",
    ),
    # typical mistakes
    (ch05.check_update_gate_product, _gate_product(1, one_minus=True), "product of (1 - z)"),
    (ch05.check_update_gate_product, _gate_product(0), "reset gates"),
    (ch05.check_update_gate_product, _gate_product(1, biases=False), "both biases"),
    (
        ch05.check_update_gate_product,
        lambda x, w, b, c: _gate_product(1)(x[:, -1:], w, b, c),
        "last step's gate",
    ),
    (
        ch05.check_update_gate_product,
        lambda x, w, b, c: torch.sigmoid((x @ w.T + b + c).chunk(3, -1)[1]).sum(1),
        "you added them",
    ),
    (ch05.check_flip_update_gate, _flip_everything, "only the update gate's rows"),
    (ch05.check_gru_sequence, _gru_sequence_stuck, "carry h forward"),
    (ch05.check_gru_sequence, _gru_sequence_reversed, "reverse order"),
    (ch05.check_gru_sequence, _gru_sequence_first_state, "`h0` returned unchanged"),
    # wrong in value only: these reach the final checks (removing one fails its test)
    (ch05.check_update_gate_product, lambda *a: update_gate_product(*a) * 1.01, "not ∂h_T/∂h_0"),
    (
        ch05.check_flip_update_gate,
        lambda s: {k: v * 1.01 for k, v in flip(s).items()},
        "only the update gate's rows",
    ),
    (ch05.check_gru_sequence, _gru_sequence_off, "outputs differ from nn.GRU"),
    (
        ch05.check_gru_sequence,
        _gru_sequence_last_off,
        "h_T should be the state after the last step",
    ),
]


@pytest.mark.parametrize(("checker", "answer", "message"), WRONG)
def test_wrong_answers_get_specific_feedback(checker, answer, message):
    result = checker(answer)
    assert result.status == "failed"
    assert message in result.message, result.message


def test_flip_final_value_check_catches_a_wrong_z_row():
    def flip_only_weights(state):  # negates z's weights but not its biases: the values differ
        out = flip(state)
        for k in ("bias_ih", "bias_hh"):
            out[k] = state[k].clone()
        return out

    result = ch05.check_flip_update_gate(flip_only_weights)
    assert result.status == "failed"
    assert "not the article's GRU yet" in result.message, result.message


def test_strict_mode_raises(monkeypatch):
    from coursekit.exercises.core import ExerciseFailed

    monkeypatch.setenv("COURSEKIT_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseFailed):
        ch05.check_update_gate_product(_gate_product(0))
