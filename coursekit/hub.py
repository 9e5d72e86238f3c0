"""GPT-2's released weights in coursekit's :class:`~coursekit.nn.GPT` (chapter 08).

A Hugging Face checkpoint is a folder: ``config.json`` (the sizes) and ``model.safetensors`` (the
tensors), or the older ``pytorch_model.bin``. :func:`load_gpt2` reads such a folder with the
``safetensors`` library (:func:`read_safetensors`), or the ``.bin`` with ``torch.load(weights_only=True)`` (tensors only, never
arbitrary pickled objects), and converts it with
:func:`~coursekit.nn.transformer.gpt_from_hf_gpt2`, which checks every key and shape.

OpenAI's 124M model is one registered download (``gpt2_124m`` in
:data:`coursekit.data.download.REGISTRY`, sha256-checked): :func:`fetch_gpt2` downloads it once
into ``$COURSEKIT_CACHE`` and loads it with the config in :data:`GPT2_124M`, so only the weights
file travels. A notebook calls :func:`gpt2_or_none`, which returns the model, or ``None`` after
one sentence saying what the cell skips, without waiting long when the learner is offline
(``COURSEKIT_OFFLINE=1`` skips without touching the network). The tokenizer is bundled:
:func:`coursekit.data.bpe.gpt2_tokenizer`.

Shapes: V vocab, C width, P context_size, L layers.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import torch
from torch import Tensor

from coursekit.data import download
from coursekit.data.bundled import sha256_of
from coursekit.data.download import DownloadError, fetch_remote
from coursekit.nn.transformer.gpt import GPT
from coursekit.nn.transformer.hf import gpt_from_hf_gpt2

__all__ = [
    "GPT2_124M",
    "GPT2_REMOTE",
    "OFFLINE_ENV",
    "fetch_gpt2",
    "gpt2_or_none",
    "load_gpt2",
    "offline",
    "read_safetensors",
]

OFFLINE_ENV = "COURSEKIT_OFFLINE"  # "1": never download, use the cache only
GPT2_REMOTE = "gpt2_124m"  # its name in coursekit.data.download.REGISTRY

# The config.json of openai-community/gpt2, the fields the converter reads: V=50257, P=1024,
# C=768, L=12 with 12 heads, the tanh GELU, tied embeddings (124,439,808 parameters).
GPT2_124M: Mapping[str, object] = MappingProxyType(
    {
        "model_type": "gpt2",
        "vocab_size": 50257,
        "n_positions": 1024,
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True,
    }
)

_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
_HOW_TO_GET = (
    "A Hugging Face GPT-2 folder holds config.json and model.safetensors (or pytorch_model.bin): "
    "write one with model.save_pretrained(folder), download both from "
    "https://huggingface.co/openai-community/gpt2/tree/main, or call "
    "coursekit.hub.fetch_gpt2() for the 124M model."
)


def read_safetensors(path: str | os.PathLike) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` file, by name (CPU, the file's dtypes), read by the
    ``safetensors`` library: a JSON header of names, dtypes, shapes and offsets, then the raw
    bytes. Nothing in the file is executed, unlike a pickle.

    Raises:
        ValueError: not a safetensors file, or one that is truncated or damaged (names it).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(Path(path))
    except SafetensorError as exc:
        raise ValueError(
            f"{path} is not a readable safetensors file ({exc}): it is truncated or damaged; "
            "download or write it again."
        ) from None


def _read_bin(path: Path) -> dict[str, Tensor]:
    """A ``pytorch_model.bin`` through ``torch.load(weights_only=True)``: tensors only."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:  # garbage, a truncated zip, a text file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                f"{path} is not a readable PyTorch checkpoint ({first[:120]}): download it "
                f"again, or use the checkpoint's model.safetensors."
            ) from None
        raise ValueError(
            f"{path} holds more than tensors (a pickled {found.group(1)}), and coursekit does "
            f"not unpickle arbitrary objects: torch.load(weights_only=True) refused it. Use the "
            f"checkpoint's model.safetensors, or save a plain state dict."
        ) from None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict.")
    return dict(state)


def _read_weights(path: Path) -> dict[str, Tensor]:
    if path.name.endswith(".index.json"):  # sharded: {"weight_map": {name: shard file}}
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in _read_weights(path.parent / shard).items()}
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    return _read_bin(path)


def _files(path: Path) -> tuple[Path, Path]:
    """The ``config.json`` and weights file of a checkpoint folder, or of its weights file."""
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if path.is_file():
        folder, weights = path.parent, path
    elif path.is_dir():
        folder = path
        weights = next((path / n for n in _WEIGHTS if (path / n).is_file()), None)
    else:
        raise FileNotFoundError(f"No such GPT-2 checkpoint: {path} does not exist. {_HOW_TO_GET}")
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    if weights is None:
        missing.append(" or ".join(_WEIGHTS))
    if missing:
        present = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise FileNotFoundError(
            f"The GPT-2 checkpoint folder {folder} has no {' and no '.join(missing)} (it has: "
            f"{present}). {_HOW_TO_GET}"
        )
    return folder / "config.json", weights


def _check_gpt2(config: Mapping, source: object) -> None:
    """Raise, naming it, when ``config`` describes another architecture than GPT-2."""
    model_type = config.get("model_type")
    if model_type != "gpt2":
        kind = ", ".join(config.get("architectures") or []) or "no architectures listed"
        raise ValueError(
            f"{source} describes a {model_type!r} model ({kind}), not GPT-2 (model_type 'gpt2'): "
            f"load_gpt2 reads GPT-2 checkpoints only; for a Llama use "
            f"coursekit.nn.transformer.gpt_from_hf_llama."
        )


def _convert(state: Mapping[str, Tensor], config: Mapping, source: object, fields: dict) -> GPT:
    """The converter's GPT, its errors (missing, unexpected keys, wrong shapes) naming the file."""
    try:
        return gpt_from_hf_gpt2(state, config, **fields)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def load_gpt2(path: str | os.PathLike, **fields: object) -> GPT:
    """A Hugging Face GPT-2 checkpoint as a coursekit :class:`~coursekit.nn.GPT` (chapter 08).

    Args:
        path: the checkpoint folder (``config.json`` with ``model.safetensors``, its sharded
            ``model.safetensors.index.json``, or ``pytorch_model.bin``), or a file in it: the
            weights file itself (a ``.safetensors`` or ``.bin``), or ``config.json``.
        fields: GPTConfig fields to set, e.g. ``context_size=256`` or ``dropout=0.1``.

    Returns:
        The model in float32 and eval mode; its logits are those of ``GPT2LMHeadModel``.

    Raises:
        FileNotFoundError: a file is missing (the message names it and how to get it).
        ValueError: ``config.json`` describes another architecture, or the weights do not fit
            it (missing or unexpected keys, wrong shapes: all named).

    >>> load_gpt2("no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No such GPT-2 checkpoint: no/such/folder does not exist. A Hugging Face GPT-2 folder holds config.json and model.safetensors (or pytorch_model.bin): write one with model.save_pretrained(folder), download both from https://huggingface.co/openai-community/gpt2/tree/main, or call coursekit.hub.fetch_gpt2() for the 124M model.
    """
    config_path, weights = _files(Path(path))
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path} is not valid JSON ({exc}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} holds a {type(config).__name__}, not a config object.")
    _check_gpt2(config, config_path)  # before reading the weights
    return _convert(_read_weights(weights), config, weights, fields)


def _forced_offline() -> str | None:
    """The variable that forbids downloading (``$COURSEKIT_OFFLINE`` or ``$HF_HUB_OFFLINE``)."""
    for name in (OFFLINE_ENV, "HF_HUB_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}:
            return name
    return None


def offline() -> bool:
    """True when ``$COURSEKIT_OFFLINE`` (or Hugging Face's ``$HF_HUB_OFFLINE``) is 1: never
    download, use the cache only."""
    return _forced_offline() is not None


def _cached(remote: download.Remote) -> Path | None:
    """The cached copy of ``remote`` when its sha256 is right."""
    path = download.cache_dir() / remote.filename
    return path if path.is_file() and sha256_of(path) == remote.sha256 else None


def _shown(path: Path) -> str:
    """``path`` with the home folder as ``~`` (a notebook's output names no machine's paths)."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def _not_cached(remote: download.Remote) -> DownloadError:
    return DownloadError(
        f"GPT-2's weights are not in the cache ({download.cache_dir() / remote.filename}) and "
        f"${_forced_offline()} forbids downloading them: unset it and connect, or put the file "
        f"({remote.urls[0]}) there.",
        offline=True,
    )


def fetch_gpt2(timeout: float = 60.0, **fields: object) -> GPT:
    """OpenAI's GPT-2 small (124M parameters) as a coursekit GPT, downloaded once (chapter 08).

    The weights are the registered download ``gpt2_124m`` (548 MB, size- and sha256-checked,
    kept in ``$COURSEKIT_CACHE``; a cached copy is hashed again, about a second); the config is :data:`GPT2_124M`. With ``$COURSEKIT_OFFLINE=1`` only
    the cache is used. Pair it with GPT-2's bundled tokenizer,
    :func:`coursekit.data.bpe.gpt2_tokenizer`.

    Args:
        timeout: seconds to wait for each server.
        fields: GPTConfig fields to set, e.g. ``context_size=256``.

    Returns:
        The model in float32 and eval mode (124,439,808 parameters).

    Raises:
        DownloadError: not cached and no server could be reached (then ``error.offline`` is
            True), or every copy failed its size or sha256 check.
    """
    remote = download.REGISTRY[GPT2_REMOTE]
    path = _cached(remote)
    if path is None:
        if offline():
            raise _not_cached(remote)
        path = fetch_remote(remote, timeout)
    return _convert(read_safetensors(path), GPT2_124M, path, fields)


def _reachable(urls: tuple[str, ...], timeout: float) -> bool:
    """Whether a TCP connection to one of the URLs' servers (or their proxy) opens in time.

    Name resolution ignores socket timeouts, so each probe runs in a thread that we stop
    waiting for after ``timeout`` seconds.
    """
    proxies = urllib.request.getproxies()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        proxy = proxies.get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
            parts = urllib.parse.urlsplit(proxy if "//" in proxy else "http://" + proxy)
        address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        result: list[bool] = []

        def probe(address: tuple = address, result: list = result) -> None:
            try:
                socket.create_connection(address, timeout=timeout).close()
                result.append(True)
            except OSError:
                result.append(False)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(timeout)
        if result == [True]:
            return True
    return False


def gpt2_or_none(
    skips: str = "what GPT-2 itself does here", timeout: float = 5.0, **fields: object
) -> GPT | None:
    """GPT-2 small for a notebook cell: the model when cached or downloadable, else ``None``.

    When the weights are not cached and the server cannot be reached within ``timeout``
    seconds (or ``$COURSEKIT_OFFLINE=1``), it prints one sentence saying that the learner is
    offline and what the cell would have shown, and returns ``None``; the cell goes on with
    ``if gpt2 is not None:``. A download that fails its checks is said as such, also ``None``.

    Args:
        skips: what the cell would have shown, e.g. ``"GPT-2's continuation of the prompt"``.
        timeout: seconds to wait for the server before deciding that the learner is offline
            (the download itself then waits up to 60 s for each read).
        fields: GPTConfig fields to set, e.g. ``context_size=256``.

    Returns:
        :func:`fetch_gpt2`'s model, or ``None``.
    """
    remote = download.REGISTRY[GPT2_REMOTE]
    where = _shown(download.cache_dir() / remote.filename)
    host = urllib.parse.urlsplit(remote.urls[0]).hostname
    path = _cached(remote)
    if path is None:
        forced, megabytes = _forced_offline(), f"{(remote.size or 0) / 1e6:.0f} MB"
        if forced or not _reachable(remote.urls, timeout):
            why, then = (
                (f"${forced} is set", f"unset ${forced} and run it again online")
                if forced
                else (f"{host} cannot be reached", "run it again online")
            )
            print(
                f"Offline ({why}): GPT-2's weights ({megabytes}) are not in {where}, so this "
                f"cell skips {skips}; {then} to see it."
            )
            return None
        print(f"Downloading GPT-2's weights ({megabytes}) into {where}, once.")
        try:
            path = fetch_remote(remote, max(timeout, 60.0))
        except DownloadError as exc:
            problem = str(exc).splitlines()[1].strip()  # the first URL's problem
            why = "the connection failed" if exc.offline else "the download was refused"
            print(f"GPT-2 could not be loaded ({why}: {problem}), so this cell skips {skips}.")
            return None
    return _convert(read_safetensors(path), GPT2_124M, path, fields)
