"""Datasets: MIDV importers, folder datasets, splits, checks and previews."""
