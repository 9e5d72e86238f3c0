"""Data for the course: bundled corpora (checked by sha256), tokenizers and batching."""

from coursekit.data.bundled import (
    DataFileError,
    bundled_names,
    bundled_path,
    data_dir,
    open_bundled,
    read_bundled_text,
    verify_all,
)

__all__ = [
    "DataFileError",
    "bundled_names",
    "bundled_path",
    "data_dir",
    "open_bundled",
    "read_bundled_text",
    "verify_all",
]
