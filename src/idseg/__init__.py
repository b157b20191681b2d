"""idseg: segment identity documents, and any other image, with Meta's SAM2."""

from idseg._version import __version__

__all__ = ["__version__"]
