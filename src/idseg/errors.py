"""The exceptions idseg raises for anything a caller can get wrong.

Every error derives from :class:`IdsegError`, so callers can catch one type. Messages say what was
expected and what was received.
"""

from __future__ import annotations


class IdsegError(Exception):
    """Base class of every error raised by idseg.

    Example:
        >>> try:
        ...     raise ConfigError("unknown preset 'fast'")
        ... except IdsegError as exc:
        ...     print(type(exc).__name__, exc)
        ConfigError unknown preset 'fast'
    """


class InputError(IdsegError, ValueError):
    """An argument has the wrong type, shape, range or value (prompts, options, arrays).

    Example:
        >>> issubclass(InputError, IdsegError), issubclass(InputError, ValueError)
        (True, True)
    """


class ConfigError(IdsegError, ValueError):
    """A configuration file, preset or model config cannot be used.

    Example:
        >>> issubclass(ConfigError, IdsegError), issubclass(ConfigError, ValueError)
        (True, True)
    """


class ImageError(IdsegError):
    """An image cannot be read: unknown file, unsupported format, corrupt data or too many pixels.

    Example:
        >>> [issubclass(e, ImageError) for e in (UnsupportedFormatError, CorruptImageError)]
        [True, True]
    """


class UnsupportedFormatError(ImageError):
    """The image format is not on the allow-list (JPEG, PNG, TIFF, WebP, BMP).

    Example:
        >>> issubclass(UnsupportedFormatError, ImageError)
        True
    """


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured limit (decompression-bomb guard).

    Example:
        >>> issubclass(ImageTooLargeError, ImageError)
        True
    """


class CorruptImageError(ImageError):
    """The image data is truncated or otherwise cannot be decoded.

    Example:
        >>> issubclass(CorruptImageError, ImageError)
        True
    """


class CheckpointError(IdsegError):
    """A checkpoint cannot be loaded: unreadable file, unsafe content or mismatched keys.

    Example:
        >>> issubclass(CheckpointError, IdsegError)
        True
    """


class DownloadError(IdsegError):
    """A download failed: network error, insecure URL, stall, size cap or server error.

    Example:
        >>> [issubclass(e, DownloadError) for e in (HashMismatchError, OfflineError)]
        [True, True]
    """


class HashMismatchError(DownloadError):
    """A file's SHA-256 differs from the pinned or recorded hash.

    Example:
        >>> issubclass(HashMismatchError, DownloadError)
        True
    """


class OfflineError(DownloadError):
    """A file is needed from the network but offline mode is on.

    Example:
        >>> issubclass(OfflineError, DownloadError)
        True
    """


class ExportError(IdsegError):
    """A model cannot be exported (ONNX, TorchScript): the exporter failed or its graph disagrees.

    Example:
        >>> issubclass(ExportError, IdsegError)
        True
    """


class MissingExtraError(IdsegError, ImportError):
    """An optional dependency is missing; the message names the extra that provides it.

    Example:
        >>> err = MissingExtraError("fastapi", "server")
        >>> err.extra, str(err).endswith("pip install 'idseg[server]'")
        ('server', True)
    """

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
    "ExportError",
    "HashMismatchError",
    "IdsegError",
    "ImageError",
    "ImageTooLargeError",
    "InputError",
    "MissingExtraError",
    "OfflineError",
    "UnsupportedFormatError",
]
