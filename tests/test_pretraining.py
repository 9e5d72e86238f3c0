"""coursekit.pretraining (chapter 08): BERT's 80/10/10 masking, bits per character; the sampling
plot and explorer; generation with and without the GPT's key/value cache."""

import math

import pytest
import torch

from coursekit import plots_generation, widgets
from coursekit.data import CharTokenizer
from coursekit.generate import generate
from coursekit.nn import GPT, GPTConfig
from coursekit.pretraining import IGNORE, bits_per_char, mask_tokens


def test_masking_follows_bert_80_10_10():
    ids = torch.randint(0, 50, (200, 500))
    g = torch.Generator().manual_seed(0)
    inputs, targets = mask_tokens(ids, mask_id=50, vocab_size=50, generator=g)
    chosen = targets != IGNORE
    assert torch.equal(targets[chosen], ids[chosen])  # the original token is the target
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions are untouched
    assert abs(chosen.float().mean().item() - 0.15) < 0.005
    masked = (inputs == 50) & chosen
    unchanged = (inputs == ids) & chosen
    assert abs(masked.sum().item() / chosen.sum().item() - 0.8) < 0.01
    # the random 10% also hits the original token 1 time in 50: unchanged is 10% + 10%/50
    assert abs(unchanged.sum().item() / chosen.sum().item() - (0.1 + 0.1 / 50)) < 0.01
    assert not (inputs[~chosen] == 50).any()


def test_masking_is_reproducible_and_respects_protected_positions():
    ids = torch.randint(0, 10, (4, 64))
    protected = torch.zeros_like(ids, dtype=torch.bool)
    protected[:, :8] = True
    a = mask_tokens(ids, mask_id=10, vocab_size=10, protected=protected,
                    generator=torch.Generator().manual_seed(3))  # fmt: skip
    b = mask_tokens(ids, mask_id=10, vocab_size=10, protected=protected,
                    generator=torch.Generator().manual_seed(3))  # fmt: skip
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (a[1][:, :8] == IGNORE).all() and torch.equal(a[0][:, :8], ids[:, :8])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mask_id": 3, "vocab_size": 10}, "is a regular token"),
        ({"mask_id": 10, "vocab_size": 10, "mask_prob": 0.0}, "mask_prob"),
        ({"mask_id": 10, "vocab_size": 10, "protected": torch.zeros(2, 2)}, "protected has shape"),
    ],
)
def test_masking_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mask_tokens(torch.zeros(3, 5, dtype=torch.long), **kwargs)


def test_bits_per_char():
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    # 100 BPE tokens covering 400 characters at 2 nats per token: 0.5 nats per character
    assert bits_per_char(2.0, tokens=100, characters=400) == pytest.approx(0.5 / math.log(2))
    with pytest.raises(ValueError, match="positive"):
        bits_per_char(1.0, tokens=0)


@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    tok = CharTokenizer.train("to be or not to be, that is the question")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context_size=16, embed_dim=16,
                          num_heads=2, num_layers=2))  # fmt: skip
    return model.eval(), tok


def test_generation_with_and_without_the_cache_agree(tiny_gpt):
    model, tok = tiny_gpt
    prompt = torch.tensor([tok.encode("to be")])
    for kwargs in ({"temperature": 0}, {"temperature": 1.0, "top_k": 5}):
        runs = [
            generate(
                model,
                prompt,
                30,
                use_cache=cached,
                generator=torch.Generator().manual_seed(1),
                **kwargs,
            )
            for cached in (True, False)
        ]  # 5 + 30 tokens: past context_size=16, so both crop the same way
        assert torch.equal(runs[0], runs[1])


def test_sampling_plot_marks_what_the_filters_keep():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0])
    fig = plots_generation.plot_sampling(logits, list("abcde"), top_p=0.9, sample="ab\ncd")
    title = fig.axes[0].get_title()
    assert "top-p 0.90" in title and "of 5 tokens kept" in title
    bars = fig.axes[0].patches
    kept = int(title.split(": ")[1].split()[0])
    assert sum(bar.get_facecolor()[:3] != (0.827, 0.827, 0.827) for bar in bars) >= 1
    assert 1 <= kept < 5
    total = sum(bar.get_height() for bar in bars[:kept])
    assert total == pytest.approx(1.0)  # the kept bars are renormalised
    with pytest.raises(ValueError, match="labels"):
        plots_generation.plot_sampling(logits, list("abc"))


def test_sampling_explorer_redraws(tiny_gpt):
    model, tok = tiny_gpt
    explorer = widgets.sampling_explorer(model, tok, "to be", max_new_tokens=10)
    assert isinstance(explorer, widgets.Explorer)
    assert "image/png" in explorer._repr_mimebundle_()
    explorer._controls["top_k"].value = 3
    assert "top-k 3" in explorer.current().axes[0].get_title()
    explorer._controls["top_k"].value = 0
    assert "top-k off" in explorer.current().axes[0].get_title()
    fig = widgets.sampling_explorer(model, tok, "to", static=True, max_new_tokens=5)
    assert fig.axes[0].get_title().startswith("next token at temperature 0.80")
    with pytest.raises(ValueError, match="no tokens"):
        widgets.sampling_explorer(model, tok, "")


def test_a_bidirectional_model_sees_the_future_and_refuses_to_generate():
    torch.manual_seed(0)
    fields = {"vocab_size": 12, "context_size": 8, "embed_dim": 16, "num_heads": 2, "num_layers": 1}
    causal, bidirectional = GPT(GPTConfig(**fields)), GPT(GPTConfig(**fields, causal=False))
    bidirectional.load_state_dict(causal.state_dict())
    a, b = torch.randint(12, (1, 8)), torch.randint(12, (1, 8))
    b[:, :4] = a[:, :4]  # same first half, different second half
    with torch.no_grad():
        # causal: the first 4 positions cannot see the (different) rest
        assert torch.allclose(causal(a)[:, :4], causal(b)[:, :4], atol=1e-6)
        assert not torch.allclose(bidirectional(a)[:, :4], bidirectional(b)[:, :4], atol=1e-3)
    with pytest.raises(ValueError, match="causal=False"):
        generate(bidirectional, a[:, :2], 3)
    with pytest.raises(TypeError, match="causal must be True or False"):
        GPTConfig(**fields, causal="no")
