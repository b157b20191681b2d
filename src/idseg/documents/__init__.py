"""Identity documents: classes and kinds, synthetic data, and (later) the document pipeline."""
