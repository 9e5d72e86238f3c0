"""coursekit.hub: Hugging Face GPT-2 checkpoints in coursekit's GPT, offline.

A tiny random GPT-2 from transformers, saved to tmp_path (safetensors, sharded safetensors and
pytorch_model.bin), loads with transformers' logits and greedy generations; missing files, another
architecture and a state dict that does not fit are named; the safetensors reader against the
safetensors library; the registered download against a local HTTP server on 127.0.0.1 (never the
internet): fetched, sha256-checked, loaded, a corrupted copy refused, and the notebook helper
returning None quickly, with its one sentence, when the server cannot be reached.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
import transformers

from coursekit import hub
from coursekit.data import download
from coursekit.data.download import DownloadError, Remote
from coursekit.generate import generate
from coursekit.hub import fetch_gpt2, gpt2_or_none, load_gpt2, read_safetensors
from coursekit.nn.transformer import gpt_config_from_hf_gpt2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hf import tiny_hf_gpt2

LOGITS_ATOL = 1e-5  # float32 logits, ours against transformers'
TINY = {"vocab_size": 100, "n_positions": 32, "n_embd": 32, "n_layer": 2, "n_head": 4}


def _hf_gpt2():
    return tiny_hf_gpt2(**TINY)


@pytest.fixture(scope="module")
def hf():
    return _hf_gpt2()


@pytest.fixture
def checkpoint(hf, tmp_path):
    """The tiny GPT-2 saved as Hugging Face does: config.json and model.safetensors."""
    folder = tmp_path / "tiny-gpt2"
    hf.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    return folder


def _ids(seed: int, shape=(2, 16)):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, TINY["vocab_size"], shape, generator=gen)


def _max_logit_diff(ours, hf, seed: int) -> float:
    ids = _ids(seed)
    with torch.no_grad():
        return (ours(ids) - hf(ids).logits).abs().max().item()


def _assert_same_model(ours, hf, seed: int) -> None:
    assert ours.training is False
    assert all(p.dtype == torch.float32 for p in ours.parameters())
    diff = _max_logit_diff(ours, hf, seed)
    assert diff <= LOGITS_ATOL, f"max |logits difference| {diff:.2e} > {LOGITS_ATOL}"
    prompt = _ids(seed + 100, (2, 6))
    theirs = hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=10,
        min_new_tokens=10,
        do_sample=False,
    )
    assert theirs.shape == (2, 16)
    assert torch.equal(generate(ours, prompt, 10, temperature=0), theirs)


# --- loading a folder --------------------------------------------------------------------------
def test_a_saved_checkpoint_gives_transformers_logits_and_generations(hf, checkpoint):
    ours = load_gpt2(checkpoint)
    assert ours.config.mlp == "gelu_tanh" and ours.head.weight is ours.tok.weight
    _assert_same_model(ours, hf, seed=0)
    # the weights file itself, with config.json beside it, and GPTConfig fields on top
    shorter = load_gpt2(checkpoint / "model.safetensors", context_size=16)
    assert shorter.config.context_size == 16
    _assert_same_model(shorter, hf, seed=1)


def test_pytorch_model_bin_loads_through_weights_only(hf, tmp_path, monkeypatch):
    # transformers 5 always writes safetensors; the .bin of older checkpoints is a torch.save'd
    # state dict, with the old causal-mask buffers that the converter ignores
    folder = tmp_path / "bin"
    hf.config.save_pretrained(folder)
    state = dict(hf.state_dict())
    state["transformer.h.0.attn.bias"] = torch.ones(1, 1, 32, 32)
    torch.save(state, folder / "pytorch_model.bin")
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k) or real_load(*a, **k))
    _assert_same_model(load_gpt2(folder), hf, seed=2)
    assert seen and all(k.get("weights_only") is True for k in seen)


def test_a_pickle_with_more_than_tensors_is_refused(hf, tmp_path):
    folder = tmp_path / "pickled"
    hf.config.save_pretrained(folder)
    torch.save(
        {"wte.weight": torch.zeros(3), "trainer": functools.partial(print)},
        folder / "pytorch_model.bin",
    )
    with pytest.raises(
        ValueError,
        match=r"bin holds more than tensors \(a pickled functools.partial\).*not unpickle",
    ):
        load_gpt2(folder)
    (folder / "pytorch_model.bin").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"pytorch_model.bin is not a readable PyTorch checkpoint"):
        load_gpt2(folder / "config.json")


def test_a_sharded_checkpoint_loads(hf, tmp_path):
    folder = tmp_path / "sharded"
    hf.save_pretrained(folder, max_shard_size="20KB")
    assert (folder / "model.safetensors.index.json").is_file()
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    _assert_same_model(load_gpt2(folder), hf, seed=3)


def test_a_damaged_safetensors_file_is_named(checkpoint, tmp_path):
    data = (checkpoint / "model.safetensors").read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-100])
    with pytest.raises(
        ValueError,
        match=r"truncated.safetensors is not a readable safetensors file .* truncated or damaged",
    ):
        read_safetensors(truncated)
    text = tmp_path / "config.safetensors"
    text.write_text(json.dumps({"n_embd": 32}))
    with pytest.raises(ValueError, match=r"config.safetensors is not a readable safetensors file"):
        read_safetensors(text)


# --- errors that say what is wrong --------------------------------------------------------------
@pytest.mark.parametrize("gone", ["config.json", "model.safetensors", "both"])
def test_a_folder_without_its_files_names_them(checkpoint, gone):
    for name in ("config.json", "model.safetensors") if gone == "both" else (gone,):
        (checkpoint / name).unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_gpt2(checkpoint)
    message = str(error.value)
    assert f"{checkpoint} has no " in message and "save_pretrained" in message
    assert "fetch_gpt2()" in message and "huggingface.co/openai-community/gpt2" in message
    if gone in ("config.json", "both"):
        assert "no config.json" in message
    if gone in ("model.safetensors", "both"):
        assert "model.safetensors or model.safetensors.index.json or pytorch_model.bin" in message
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_gpt2(checkpoint / "nowhere")


@pytest.mark.parametrize(
    ("model_type", "architecture"), [("llama", "LlamaForCausalLM"), ("bert", "BertForMaskedLM")]
)
def test_another_architecture_is_named(checkpoint, model_type, architecture):
    config = json.loads((checkpoint / "config.json").read_text())
    config.update(model_type=model_type, architectures=[architecture])
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"describes a '{model_type}' model \({architecture}\)"):
        load_gpt2(checkpoint)


def _rewrite(checkpoint: Path, change) -> None:
    path = checkpoint / "model.safetensors"
    state = {k: v.clone() for k, v in safetensors.torch.load_file(path).items()}
    change(state)
    safetensors.torch.save_file(state, path, metadata={"format": "pt"})


def test_a_state_dict_that_does_not_fit_names_the_key_and_shape(checkpoint):
    def missing(state):
        del state["transformer.h.1.mlp.c_fc.bias"]

    def unexpected(state):
        state["transformer.h.0.attn.extra"] = torch.zeros(3)

    def wrong(state):
        state["transformer.wpe.weight"] = torch.zeros(32, 30)

    for change, expected in (
        (missing, "missing keys: h.1.mlp.c_fc.bias"),
        (unexpected, "unexpected keys: h.0.attn.extra"),
        (wrong, "wrong shapes: wpe.weight is (32, 30), expected (32, 32)"),
    ):
        _rewrite(checkpoint, change)
        with pytest.raises(ValueError) as error:
            load_gpt2(checkpoint)
        message = str(error.value)
        assert message.startswith(f"{checkpoint / 'model.safetensors'}: gpt_from_hf_gpt2: ")
        assert expected in message, message


# --- the registered download, against 127.0.0.1 --------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(checkpoint, tmp_path):
    """Serve the tiny model.safetensors (good) and a copy with one byte changed (bad)."""
    www = tmp_path / "www"
    www.mkdir()
    data = (checkpoint / "model.safetensors").read_bytes()
    (www / "good.safetensors").write_bytes(data)
    (www / "bad.safetensors").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", data
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(download.CACHE_ENV, str(folder))
    monkeypatch.delenv(hub.OFFLINE_ENV, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _register(monkeypatch, hf, data: bytes, *urls: str) -> None:
    """The registry entry and the config of GPT-2 small, pointed at the tiny model."""
    real = download.REGISTRY[hub.GPT2_REMOTE]
    remote = Remote(
        real.name,
        real.filename,
        urls,
        hashlib.sha256(data).hexdigest(),
        len(data),
        real.license,
        real.description,
    )
    monkeypatch.setitem(download.REGISTRY, hub.GPT2_REMOTE, remote)
    monkeypatch.setattr(hub, "GPT2_124M", {**hf.config.to_dict(), "model_type": "gpt2"})


def test_gpt2_small_is_registered_with_its_published_hash():
    remote = download.REGISTRY[hub.GPT2_REMOTE]
    assert remote.urls == (
        "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors",
        "https://huggingface.co/gpt2/resolve/main/model.safetensors",
    )
    assert remote.sha256 == "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"
    assert remote.size == 548105171
    c = hub.GPT2_124M
    assert (c["vocab_size"], c["n_positions"], c["n_embd"], c["n_layer"], c["n_head"]) == (
        50257,
        1024,
        768,
        12,
        12,
    )
    assert gpt_config_from_hf_gpt2(c).mlp == "gelu_tanh"
    # the file is GPT-2 small's tensors (tied: no lm_head) and its 12 causal-mask buffers
    # (1, 1, P, P), all float32, after the 8-byte length and a 14,283-byte JSON header
    params = 50257 * 768 + 1024 * 768 + 12 * (12 * 768 * 768 + 13 * 768) + 2 * 768
    assert params == 124439808
    assert remote.size == 8 + 14283 + 4 * (params + 12 * 1024 * 1024)


def test_fetch_gpt2_downloads_verifies_caches_and_loads(hf, server, cache, monkeypatch):
    url, data = server
    _register(monkeypatch, hf, data, f"{url}/good.safetensors")
    model = fetch_gpt2(timeout=5)
    _assert_same_model(model, hf, seed=5)
    path = cache / download.REGISTRY[hub.GPT2_REMOTE].filename
    assert [p.name for p in cache.iterdir()] == [path.name] and path.read_bytes() == data
    # cached: no server needed, and the helper returns it without a word
    _register(monkeypatch, hf, data, f"http://127.0.0.1:{_free_port()}/good.safetensors")
    assert _max_logit_diff(fetch_gpt2(timeout=5), hf, seed=6) <= LOGITS_ATOL
    assert _max_logit_diff(gpt2_or_none(timeout=1), hf, seed=7) <= LOGITS_ATOL
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")  # offline, the cache still serves
    assert _max_logit_diff(fetch_gpt2(), hf, seed=8) <= LOGITS_ATOL


def test_gpt2_or_none_downloads_when_online(hf, server, cache, monkeypatch, capsys):
    url, data = server
    _register(monkeypatch, hf, data, f"{url}/good.safetensors")
    model = gpt2_or_none("the continuation", timeout=5, context_size=16)
    assert model is not None and model.config.context_size == 16
    assert _max_logit_diff(model, hf, seed=9) <= LOGITS_ATOL
    assert "Downloading GPT-2's weights" in capsys.readouterr().out


def test_a_corrupted_download_is_refused(hf, server, cache, monkeypatch, capsys):
    url, data = server
    _register(monkeypatch, hf, data, f"{url}/bad.safetensors")
    with pytest.raises(DownloadError, match=r"(?s)sha256 .* expected .*did not match") as error:
        fetch_gpt2(timeout=5)
    assert error.value.offline is False
    assert list(cache.iterdir()) == []
    assert gpt2_or_none("the continuation", timeout=5) is None
    out = capsys.readouterr().out
    assert "could not be loaded (the download was refused" in out and "sha256" in out
    assert "Offline" not in out and list(cache.iterdir()) == []


def test_offline_the_helper_says_so_quickly_and_returns_none(
    hf, checkpoint, cache, monkeypatch, capsys
):
    data = (checkpoint / "model.safetensors").read_bytes()
    port = _free_port()  # nothing listens there: connection refused, as offline
    _register(monkeypatch, hf, data, f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b")
    start = time.perf_counter()
    assert gpt2_or_none("GPT-2's continuation of the prompt", timeout=2) is None
    assert time.perf_counter() - start < 2
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and out.startswith("Offline (127.0.0.1 cannot be reached)")
    assert "not in " in out and "skips GPT-2's continuation of the prompt" in out
    with pytest.raises(DownloadError, match="Are you offline") as error:
        fetch_gpt2(timeout=2)
    assert error.value.offline is True


def test_forced_offline_never_touches_the_network(hf, server, cache, monkeypatch, capsys):
    url, data = server  # a server that would answer
    _register(monkeypatch, hf, data, f"{url}/good.safetensors")
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")
    monkeypatch.setattr(download, "_download", lambda *a: pytest.fail("downloaded while offline"))
    monkeypatch.setattr(hub, "_reachable", lambda *a: pytest.fail("probed while offline"))
    assert gpt2_or_none("the sample") is None
    out = capsys.readouterr().out
    assert out.startswith(f"Offline (${hub.OFFLINE_ENV} is set)")
    assert f"skips the sample; unset ${hub.OFFLINE_ENV} and run it again online" in out
    with pytest.raises(DownloadError, match=rf"\${hub.OFFLINE_ENV} forbids") as error:
        fetch_gpt2()
    assert error.value.offline is True and list(cache.glob("*")) == []
    monkeypatch.delenv(hub.OFFLINE_ENV)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # Hugging Face's own switch is honoured too
    assert gpt2_or_none("the sample") is None
    assert capsys.readouterr().out.startswith("Offline ($HF_HUB_OFFLINE is set)")


def test_a_slow_name_lookup_does_not_hang_the_helper(monkeypatch):
    released = threading.Event()

    def stuck(*args, **kwargs):
        released.wait(30)
        raise OSError("the lookup gave up")  # as a real one would, once the test is over

    monkeypatch.setattr(socket, "create_connection", stuck)
    start = time.perf_counter()
    try:
        assert hub._reachable(("https://huggingface.co/x",), timeout=0.2) is False
        assert time.perf_counter() - start < 1
    finally:
        released.set()  # the probe thread ends here, not in some later test


@pytest.mark.slow
def test_the_real_gpt2_small_when_cached(monkeypatch):
    """Only where a learner or maintainer has downloaded it (548 MB); skipped otherwise."""
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")  # the cache or nothing
    remote = download.REGISTRY[hub.GPT2_REMOTE]
    path = download.cache_dir() / remote.filename
    if not path.is_file():
        pytest.skip(f"GPT-2 small is not cached at {path}: coursekit.hub.fetch_gpt2() gets it")
    ours = fetch_gpt2()
    assert ours.num_parameters() == 124439808
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**hub.GPT2_124M)).eval()
    missing, unexpected = hf.transformer.load_state_dict(read_safetensors(path), strict=False)
    assert not missing and all(k.endswith("attn.bias") for k in unexpected)
    hf.tie_weights()
    ids = torch.randint(0, 50257, (1, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mine, theirs = ours(ids), hf(ids).logits
    assert (mine - theirs).abs().max().item() <= 1e-3  # logits of size ~100, float32
    assert torch.equal(mine.argmax(-1), theirs.argmax(-1))
