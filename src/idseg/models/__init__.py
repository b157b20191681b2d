"""Model registry, downloads, config resolution and checkpoint loading."""
