"""Data for the course: bundled corpora (checked by sha256), tokenizers, batching and downloads.

* :mod:`coursekit.data.bundled`: where the files are and whether they are intact.
* :mod:`coursekit.data.corpora`: the corpora by name and split (text, pairs, labelled examples).
* :mod:`coursekit.data.tokenizers`: the :class:`Tokenizer` protocol and registry; character and
  word tokenizers (``CharTokenizer.train``, ``WordTokenizer.train``).
* :mod:`coursekit.data.bpe`: byte-level BPE (chapter 08): ``ByteBPETokenizer.train``, GPT-2's
  tokenizer from the bundled files (``ByteBPETokenizer.from_gpt2``).
* :mod:`coursekit.data.batching`: language-model windows, seq2seq and classification batches.
* :mod:`coursekit.data.download`: optional larger files for learners who are online.
"""

from coursekit.data.batching import (
    ClassificationBatch,
    ClassificationCollate,
    LMWindows,
    Seq2SeqBatch,
    Seq2SeqCollate,
    encode_labelled,
    encode_pairs,
    lm_windows,
    make_loader,
    pad_batch,
    random_lm_batch,
)
from coursekit.data.bpe import (
    ENDOFTEXT,
    GPT2_PATTERN,
    GPT4_PATTERN,
    ByteBPETokenizer,
    bytes_to_unicode,
    get_pair_counts,
    gpt2_tokenizer,
    load_gpt2_bpe,
    merge,
)
from coursekit.data.bundled import (
    DataFileError,
    bundled_names,
    bundled_path,
    data_dir,
    open_bundled,
    read_bundled_text,
    verify_all,
)
from coursekit.data.corpora import (
    UnknownCorpus,
    analogies,
    corpus_names,
    load_labelled,
    load_pairs,
    load_similarity,
    load_table,
    load_text,
)
from coursekit.data.download import REGISTRY, DownloadError, Remote, cache_dir, fetch
from coursekit.data.tokenizers import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    TOKENIZERS,
    UNK,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    load_tokenizer,
    register_tokenizer,
    word_split,
)

__all__ = [
    "BOS",
    "ENDOFTEXT",
    "EOS",
    "GPT2_PATTERN",
    "GPT4_PATTERN",
    "PAD",
    "REGISTRY",
    "SPECIALS",
    "TOKENIZERS",
    "UNK",
    "ByteBPETokenizer",
    "CharTokenizer",
    "ClassificationBatch",
    "ClassificationCollate",
    "DataFileError",
    "DownloadError",
    "LMWindows",
    "Remote",
    "Seq2SeqBatch",
    "Seq2SeqCollate",
    "Tokenizer",
    "UnknownCorpus",
    "WordTokenizer",
    "analogies",
    "bundled_names",
    "bundled_path",
    "bytes_to_unicode",
    "cache_dir",
    "corpus_names",
    "data_dir",
    "encode_labelled",
    "encode_pairs",
    "fetch",
    "get_pair_counts",
    "gpt2_tokenizer",
    "lm_windows",
    "load_gpt2_bpe",
    "load_labelled",
    "load_pairs",
    "load_similarity",
    "load_table",
    "load_text",
    "load_tokenizer",
    "make_loader",
    "merge",
    "open_bundled",
    "pad_batch",
    "random_lm_batch",
    "read_bundled_text",
    "register_tokenizer",
    "verify_all",
    "word_split",
]
