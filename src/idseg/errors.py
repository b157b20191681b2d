"""The exceptions idseg raises for anything a caller can get wrong.

Every error derives from :class:`IdsegError`, so callers can catch one type. Messages say what was
expected and what was received.
"""

from __future__ import annotations


class IdsegError(Exception):
    """Base class of every error raised by idseg."""


class InputError(IdsegError, ValueError):
    """An argument has the wrong type, shape, range or value (prompts, options, arrays)."""


class ConfigError(IdsegError, ValueError):
    """A configuration file, preset or model config cannot be used."""


class ImageError(IdsegError):
    """An image cannot be read: unknown file, unsupported format, corrupt data or too many pixels."""


class UnsupportedFormatError(ImageError):
    """The image format is not on the allow-list (JPEG, PNG, TIFF, WebP, BMP)."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class CorruptImageError(ImageError):
    """The image data is truncated or otherwise cannot be decoded."""


class CheckpointError(IdsegError):
    """A checkpoint cannot be loaded: unreadable file, unsafe content or mismatched keys."""


class DownloadError(IdsegError):
    """A download failed: network error, insecure URL, stall, size cap or server error."""


class HashMismatchError(DownloadError):
    """A file's SHA-256 differs from the pinned or recorded hash."""


class OfflineError(DownloadError):
    """A file is needed from the network but offline mode is on."""


class MissingExtraError(IdsegError, ImportError):
    """An optional dependency is missing; the message names the extra that provides it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the optional package {package!r}; "
            f"install it with: pip install 'idseg[{extra}]'"
        )
        self.package = package
        self.extra = extra


__all__ = [
    "CheckpointError",
    "ConfigError",
    "CorruptImageError",
    "DownloadError",
    "HashMismatchError",
    "IdsegError",
    "ImageError",
    "ImageTooLargeError",
    "InputError",
    "MissingExtraError",
    "OfflineError",
    "UnsupportedFormatError",
]
