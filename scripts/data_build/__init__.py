"""Builders for the course's bundled corpora; driven by ``scripts/build_data.py``."""
