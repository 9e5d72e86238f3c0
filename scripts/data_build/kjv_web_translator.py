"""Chapter 06's stored translator, from ``python -m coursekit.translator``.

Like ``course_gpt`` this builder trains instead of downloading: with the default recipe
(:class:`coursekit.translator.TranslatorRecipe`) it trains on the bundled KJV → WEB pairs, one
CPU thread, about 17 minutes, and ships the export. To ship a run made elsewhere (the same
command), point ``COURSEKIT_TRANSLATOR`` at its ``--out`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_build.common import CACHE, Output

__all__ = ["build"]

LICENSE = (
    "MIT (the course's license). Trained only on the bundled public-domain King James Version "
    "and World English Bible verses."
)
FILES = {  # manifest name -> (file, description)
    "kjv_web_translator_weights": (
        "model.safetensors",
        "Chapter 06's stored pointer-generator (KJV -> WEB): float16 weights (safetensors, "
        "gzip'd), loaded by coursekit.translator.load_translator.",
    ),
    "kjv_web_translator_config": (
        "config.json",
        "Its RNNSeq2SeqConfig, the training recipe and the measured results (validation curve, "
        "chosen step, validation and test BLEU/chrF, the vocabulary's sha256).",
    ),
    "kjv_web_translator_card": (
        "MODEL_CARD.md",
        "The model card: data, recipe, time, scores, and the command that rebuilds it.",
    ),
}


def _export_folder() -> Path:
    given = os.environ.get("COURSEKIT_TRANSLATOR")
    if given:
        return Path(given)
    import torch

    from coursekit.translator import TranslatorRecipe, export_translator, train_translator

    torch.set_num_threads(1)
    recipe = TranslatorRecipe()
    model, _, results = train_translator(recipe)
    return export_translator(model, recipe, results, CACHE / "kjv_web_translator")


def build() -> list[Output]:
    folder = _export_folder()
    source = (
        "Trained by `python -m coursekit.translator` (coursekit.translator, default recipe) on "
        "the train split of the bundled bible_kjv_web pairs; see kjv_web_translator/MODEL_CARD.md"
    )
    return [
        Output(
            name,
            f"kjv_web_translator/{file}{'.gz' if file == 'model.safetensors' else ''}",
            (folder / file).read_bytes(),
            source,
            LICENSE,
            about,
        )
        for name, (file, about) in FILES.items()
    ]
