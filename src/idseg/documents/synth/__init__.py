"""Synthetic identity documents with exact ground truth."""
