"""Bad input to coursekit.nn says what was wrong and what to do, in coursekit's words.

Each case here used to surface as one of torch's messages ("expected m1 and m2 to have the same
dtype", "IndexError: index out of range in self", "got multiple values for keyword argument",
"'<' not supported between instances of 'str' and 'int'").
"""

from __future__ import annotations

import pytest
import torch

from coursekit.nn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RecurrentLM,
    RecurrentLMConfig,
    RNNCell,
    UnknownArgumentError,
    make_recurrent,
)


# --- what reaches forward ------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [RNN(4, 6), LSTM(4, 6), GRU(4, 6)], ids=["rnn", "lstm", "gru"])
def test_token_ids_into_a_layer_say_embed_them_first(layer):
    with pytest.raises(
        TypeError, match=r"got token ids \(torch\.int64\).*nn\.Embedding\(vocab_size, 4\)"
    ):
        layer(torch.randint(0, 9, (2, 3)))
    with pytest.raises(TypeError, match=r"got token ids \(torch\.int32\)"):
        layer(torch.randint(0, 9, (2, 3, 4), dtype=torch.int32))
    with pytest.raises(TypeError, match=r"floating-point input, got torch\.bool"):
        layer(torch.zeros(2, 3, 4, dtype=torch.bool))


@pytest.mark.parametrize(
    "cell", [RNNCell(4, 6), LSTMCell(4, 6), GRUCell(4, 6)], ids=["rnn", "lstm", "gru"]
)
def test_token_ids_into_a_cell_say_embed_them_first(cell):
    with pytest.raises(TypeError, match=r"RNNCell|LSTMCell|GRUCell") as info:
        cell(torch.tensor([[1, 2, 3, 4]]))
    assert "token ids (torch.int64)" in str(info.value) and "nn.Embedding" in str(info.value)


def test_dtype_and_device_mismatch_are_named():
    layer = LSTM(4, 6)
    with pytest.raises(
        TypeError, match=r"input is torch\.float64 but the layer's weights are torch\.float32"
    ):
        layer(torch.randn(2, 3, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x\.to\(torch\.float32\) or layer\.to\(torch\.float64\)"):
        GRUCell(4, 6)(torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"input is on meta but the layer's weights are on cpu"):
        layer(torch.randn(2, 3, 4, device="meta"))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast mixes dtypes on purpose
        out, _ = layer(torch.randn(2, 3, 4, dtype=torch.bfloat16))
    assert out.shape == (2, 3, 6)


def test_wrong_dims_and_width_name_the_layout():
    with pytest.raises(
        ValueError, match=r"batch-first input of shape \(B, T, I=4\).*unsqueeze\(0\)"
    ):
        GRU(4, 6)(torch.randn(3, 4))
    with pytest.raises(
        ValueError, match=r"time-major input of shape \(T, B, I=4\).*unsqueeze\(1\)"
    ):
        GRU(4, 6, batch_first=False)(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"5 features.*input_size=4"):
        RNN(4, 6)(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"5 features.*input_size=4"):
        LSTMCell(4, 6)(torch.randn(2, 5))


def test_time_major_state_is_checked_on_the_batch_axis():
    layer = GRU(4, 6, batch_first=False)
    with pytest.raises(ValueError, match=r"should have shape \(1, 2, 6\)"):
        layer(torch.randn(3, 2, 4), torch.zeros(1, 3, 6))  # (T=3, B=2): the state's B is 2
    with pytest.raises(ValueError, match=r"lengths must be in 1..T=3"):
        layer(torch.randn(3, 2, 4), lengths=torch.tensor([3, 4]))


# --- the language model's token ids --------------------------------------------------------------
def _lm(vocab_size=10):
    return RecurrentLM(
        RecurrentLMConfig(vocab_size=vocab_size, cell="gru", embed_dim=4, hidden_size=4)
    )


def test_the_model_takes_a_config_object():
    with pytest.raises(TypeError, match=r"RecurrentLM takes a RecurrentLMConfig, got dict"):
        RecurrentLM({"vocab_size": 10})


def test_float_ids_into_the_model_are_named():
    with pytest.raises(
        TypeError, match=r"integer token ids \(torch\.long\), got torch\.float32.*idx\.long\(\)"
    ):
        _lm()(torch.zeros(2, 3))


def test_an_id_outside_the_vocabulary_names_it_and_vocab_size():
    model = _lm()
    with pytest.raises(
        IndexError, match=r"token id 12 is outside the vocabulary \(vocab_size=10, valid ids 0..9"
    ):
        model(torch.tensor([[1, 12, 3]]))
    with pytest.raises(IndexError, match=r"token id -1 is outside"):
        model.forward_with_state(torch.tensor([[1, -1]]))
    assert model(torch.tensor([[0, 9]])).shape == (1, 2, 10)  # both ends of the range are fine
    with pytest.raises(ValueError, match=r"T=0 steps"):
        model(torch.zeros(2, 0, dtype=torch.long))


def test_the_range_check_can_be_switched_off_and_is_skipped_when_compiling(monkeypatch):
    model = _lm()
    model.check_ids = False
    with pytest.raises(IndexError, match="index out of range"):  # torch's own error: no check ran
        model(torch.tensor([[12]]))
    model.check_ids = True
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    with pytest.raises(IndexError, match="index out of range"):
        model(torch.tensor([[12]]))
    with pytest.raises(TypeError, match="integer token ids"):  # dtypes are still checked
        model(torch.zeros(1, 2))


# --- constructor arguments -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"hidden_size": "128"},
            TypeError,
            r"hidden_size must be an int, got str '128': write hidden_size=128",
        ),
        ({"vocab_size": 10.0}, TypeError, r"vocab_size must be an int, got float 10\.0"),
        ({"num_layers": True}, TypeError, r"num_layers must be an int, got bool True"),
        ({"num_layers": 0}, ValueError, r"num_layers must be a positive integer, got 0"),
        ({"dropout": "0.1"}, TypeError, r"dropout must be a number in \[0, 1\), got str '0\.1'"),
        ({"tie_weights": "yes"}, TypeError, r"tie_weights must be True or False, got str 'yes'"),
        ({"fused": 1}, TypeError, r"fused must be True or False"),
        (
            {"cell": "lstn"},
            ValueError,
            r"cell must be one of 'rnn', 'lstm', 'gru', got 'lstn'; did you mean 'lstm'\?",
        ),
        ({"cell": 3}, ValueError, r"cell must be one of"),
    ],
)
def test_config_fields_are_checked_for_type_and_range(kwargs, error, message):
    with pytest.raises(error, match=message):
        RecurrentLMConfig(**{"vocab_size": 10, **kwargs})


def test_config_unknown_keyword_lists_the_fields():
    with pytest.raises(
        UnknownArgumentError,
        match=r"RecurrentLMConfig got an unknown argument 'hiden_size'; did you mean 'hidden_size'\?",
    ) as info:
        RecurrentLMConfig(vocab_size=10, hiden_size=8)
    assert (
        "vocab_size, cell, embed_dim, hidden_size, num_layers, dropout, tie_weights, fused"
        in str(info.value)
    )
    assert isinstance(
        info.value, TypeError
    )  # what Python raises for it, so `except TypeError` holds
    import dataclasses

    cfg = dataclasses.replace(RecurrentLMConfig(10), hidden_size=8)  # replace() goes through it too
    assert cfg.hidden_size == 8 and repr(cfg).startswith("RecurrentLMConfig(vocab_size=10")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: LSTM(4, 8, batch_frist=True),
            r"LSTM got an unknown argument 'batch_frist'; did you mean 'batch_first'\?",
        ),
        (lambda: RNN(4, 8, nonlinerity="relu"), r"did you mean 'nonlinearity'\?"),
        (
            lambda: GRUCell(4, 8, bais=False),
            r"GRUCell got an unknown argument 'bais'; did you mean 'bias'\?",
        ),
        (
            lambda: make_recurrent("gru", 4, 8, nonlinearity="relu"),
            r"GRU got an unknown argument 'nonlinearity'",
        ),
        (lambda: make_recurrent("lstm", 4, 8, layers=2, drop=0.1), r"'drop' \(and 1 more\)"),
    ],
)
def test_unknown_keywords_raise_coursekits_error(build, message):
    with pytest.raises(UnknownArgumentError, match=message) as info:
        build()
    assert "Valid arguments: input_size, hidden_size" in str(info.value)


def test_layer_arguments_are_checked_in_torchs_order():
    with pytest.raises(
        TypeError, match=r"LSTM: hidden_size must be an int, got str '8': write hidden_size=8"
    ):
        LSTM(4, "8")
    # The old coursekit order (bias, dropout, fused) put a dropout where torch has batch_first.
    with pytest.raises(
        TypeError,
        match=r"batch_first must be True or False, got float 0\.2.*LSTM\(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size\)",
    ):
        LSTM(4, 8, 2, True, 0.2)
    with pytest.raises(
        ValueError,
        match=r"nonlinearity must be 'tanh' or 'relu', got True \(torch's order: RNN\(input_size, hidden_size, num_layers, nonlinearity, bias",
    ):
        RNN(4, 8, 2, True)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1\.0"):
        GRU(4, 8, dropout=1.0)
    with pytest.raises(ValueError, match=r"proj_size must be 0, got 2: use torch\.nn\.LSTM"):
        LSTM(4, 8, proj_size=2)
    with pytest.raises(ValueError, match=r"unknown recurrent layer 'lstn'; did you mean 'lstm'\?"):
        make_recurrent("lstn", 4, 8)
