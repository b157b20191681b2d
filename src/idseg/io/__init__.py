"""Input and output: safe image decoding and atomic file writes."""
