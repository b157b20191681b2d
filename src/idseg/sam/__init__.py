"""SAM2 engine: predictor, segment-everything, settings and typed results."""
