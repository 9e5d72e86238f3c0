"""The course's own pretrained GPT (chapters 08-09), from ``python -m coursekit pretrain``.

Unlike the other builders this one does not download anything: it *trains*. With the default
settings (:class:`coursekit.pretrain.PretrainConfig`) it pretrains on the bundled English text in
``$COURSEKIT_BUILD_CACHE/course_gpt`` (resumable: run it again after an interruption) and ships the
export. That takes 30-80 minutes on 2 CPU cores. To ship a run made elsewhere (the same command,
e.g. on a faster machine), point ``COURSEKIT_COURSE_GPT`` at its ``--out`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_build.common import CACHE, Output

__all__ = ["build"]

LICENSE = (
    "MIT (the course's license). Trained only on bundled public-domain texts (Shakespeare, the "
    "World English Bible) and WordNet 3.0 glosses: keep the WordNet notice "
    "(licenses/WORDNET_LICENSE.txt) with it."
)
FILES = {  # manifest name -> (file, description)
    "course_gpt_weights": (
        "model.safetensors",
        "The course's pretrained GPT: float16 weights (safetensors, gzip'd; the tied output layer "
        "left out), loaded by coursekit.pretrain.load_pretrained.",
    ),
    "course_gpt_config": (
        "config.json",
        "Its GPTConfig, the pretraining settings and the measured results (losses, steps, time).",
    ),
    "course_gpt_tokenizer": (
        "tokenizer.json",
        "Its byte-level BPE tokenizer (coursekit.data.ByteBPETokenizer JSON), learned from the "
        "same text.",
    ),
    "course_gpt_card": (
        "MODEL_CARD.md",
        "The model card: data, settings, time, final losses, and the command that rebuilds it.",
    ),
}


def _export_folder() -> Path:
    given = os.environ.get("COURSEKIT_COURSE_GPT")
    if given:
        return Path(given)
    from coursekit.pretrain import PretrainConfig, pretrain

    out = CACHE / "course_gpt" / "out"
    results = pretrain(PretrainConfig(), CACHE / "course_gpt" / "work", out)
    if not results["finished"]:
        raise SystemExit("pretraining stopped early: run the build again to resume it")
    return out


def build() -> list[Output]:
    folder = _export_folder()
    source = (
        "Trained by `python -m coursekit pretrain` (coursekit.pretrain, default settings) on the "
        "train splits of the bundled shakespeare_complete, bible_web and wordnet_gloss10 "
        "(glosses of its train split only); see course_gpt/MODEL_CARD.md"
    )
    return [
        Output(
            name,
            f"course_gpt/{file}{'.gz' if file == 'model.safetensors' else ''}",
            (folder / file).read_bytes(),
            source,
            LICENSE,
            about,
        )
        for name, (file, about) in FILES.items()
    ]
