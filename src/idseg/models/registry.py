"""The official SAM2 / SAM 2.1 checkpoints: names, aliases, URLs and model configs.

No official SHA-256 values are published with the checkpoints, so every entry has ``sha256=None``;
the cache records the hash of the first download instead (trust on first use, see
:mod:`idseg.models.cache`). Sizes are approximate and only for display.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from idseg._text import close_match
from idseg.errors import ConfigError
from idseg.models.configs import _SIZE_ALIASES as _CONFIG_SIZE_ALIASES

_BASE_21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_BASE_20 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"

# size word -> (approx size in bytes, parameters in millions); the config suffix of each size
# (``t``, ``s``, ``b+``, ``l``) and the accepted spellings come from idseg.models.configs.
_SIZES: dict[str, tuple[int, float]] = {
    "tiny": (156_000_000, 38.9),
    "small": (184_000_000, 46.0),
    "base_plus": (324_000_000, 80.8),
    "large": (898_000_000, 224.4),
}


def _suffix(size: str) -> str:
    """The config suffix of a size word: ``tiny`` -> ``t``, ``base_plus`` -> ``b+``."""
    return _CONFIG_SIZE_ALIASES[size]


def _size_words() -> dict[str, str]:
    """Every accepted size spelling (``tiny``, ``t``, ``b+``, ``base+``, ...) -> size word.

    Built from the config module's table; ``-`` becomes ``_`` (as in :func:`_normalise`) and every
    ``_plus`` spelling also gets its ``+`` form.
    """
    by_suffix = {_suffix(size): size for size in _SIZES}
    words: dict[str, str] = {suffix: size for suffix, size in by_suffix.items()}
    for spelling, suffix in _CONFIG_SIZE_ALIASES.items():
        if suffix in by_suffix:
            word = spelling.replace("-", "_")
            words[word] = by_suffix[suffix]
            words[word.replace("_plus", "+")] = by_suffix[suffix]
    return words


_SIZE_WORDS: dict[str, str] = _size_words()


@dataclass(frozen=True)
class CheckpointSpec:
    """One official checkpoint.

    Attributes:
        name: Canonical name, also the file stem (``sam2.1_hiera_tiny``).
        url: HTTPS download URL.
        config: SAM2 model config name (``sam2.1_hiera_t``).
        sha256: Pinned SHA-256 (lower-case hex), or None when no official value is known.
        size_bytes: Approximate download size in bytes, for display only.
        family: ``"sam2.1"`` or ``"sam2"``.
        licence: Licence of the weights.
        description: One-line human description.

    Example:
        >>> spec = get_checkpoint("tiny")
        >>> spec.name, spec.config, spec.family
        ('sam2.1_hiera_tiny', 'sam2.1_hiera_t', 'sam2.1')

    """

    name: str
    url: str
    config: str
    sha256: str | None
    size_bytes: int | None
    family: str
    licence: str
    description: str

    @property
    def filename(self) -> str:
        """The file name the checkpoint is cached under (last URL path component).

        Example:
            >>> get_checkpoint("sam2_hiera_small").filename
            'sam2_hiera_small.pt'

        """
        return PurePosixPath(urllib.parse.urlsplit(self.url).path).name

    @property
    def config_path(self) -> str:
        """The config path inside the ``sam2`` package: ``configs/sam2.1/sam2.1_hiera_t.yaml``.

        Example:
            >>> get_checkpoint("sam2_hiera_large").config_path
            'configs/sam2/sam2_hiera_l.yaml'

        """
        return f"configs/{self.family}/{self.config}.yaml"


def _build_specs() -> tuple[CheckpointSpec, ...]:
    specs: list[CheckpointSpec] = []
    for family, base, label in (("sam2.1", _BASE_21, "SAM 2.1"), ("sam2", _BASE_20, "SAM 2")):
        for size, (approx, params) in _SIZES.items():
            name = f"{family}_hiera_{size}"
            pretty = size.replace("_plus", "+").replace("_", " ").title()
            specs.append(
                CheckpointSpec(
                    name=name,
                    url=f"{base}{name}.pt",
                    config=f"{family}_hiera_{_suffix(size)}",
                    sha256=None,
                    size_bytes=approx,
                    family=family,
                    licence="Apache-2.0",
                    description=f"{label} Hiera-{pretty} (about {params:g}M parameters)",
                )
            )
    return tuple(specs)


_SPECS: tuple[CheckpointSpec, ...] = _build_specs()
_BY_NAME: dict[str, CheckpointSpec] = {spec.name: spec for spec in _SPECS}


def _normalise(text: str) -> str:
    """Lower-case, drop a ``facebook/`` (Hugging Face) prefix, hyphens to underscores.

    Paths and file names are deliberately not accepted: a missing local file must not silently
    turn into a download of the official checkpoint with the same name.
    """
    key = text.strip().lower().removeprefix("facebook/").replace("-", "_")
    return re.sub(r"^sam2_1(?=_)", "sam2.1", key)


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for spec in _SPECS:
        size = spec.name.split("_hiera_", 1)[1]
        for word, target in _SIZE_WORDS.items():
            if target == size:
                aliases[f"{spec.family}_hiera_{word}"] = spec.name
                aliases[f"{spec.family}_{word}"] = spec.name
                if spec.family == "sam2.1":
                    aliases[word] = spec.name
    return aliases


_ALIASES: dict[str, str] = _build_aliases()

# family, then size word; tolerant of "-" vs "_", "2.1" vs "2_1", and surrounding text.
_CONFIG_RE = re.compile(
    r"sam2(?P<v>[._]1)?_hiera_(?P<size>"
    + "|".join(re.escape(word) for word in sorted(_SIZE_WORDS, key=len, reverse=True))
    + r")(?![a-z0-9+])"
)


def list_checkpoints() -> list[CheckpointSpec]:
    """Return every official checkpoint, SAM 2.1 first, smallest first.

    Example:
        >>> [s.name for s in list_checkpoints()][:2]
        ['sam2.1_hiera_tiny', 'sam2.1_hiera_small']

    """
    return list(_SPECS)


def get_checkpoint(name: str) -> CheckpointSpec:
    """Look up a checkpoint by name or alias (case-insensitive).

    Accepted forms include ``sam2.1_hiera_tiny``, ``sam2.1_hiera_t`` (the config name),
    ``sam2.1-hiera-tiny``, ``facebook/sam2.1-hiera-tiny`` and the bare size ``tiny``
    (which means SAM 2.1).

    Args:
        name: The name or alias.

    Returns:
        The matching :class:`CheckpointSpec`.

    Raises:
        ConfigError: No checkpoint has that name; the message lists the known names and the
            closest match.

    Example:
        >>> get_checkpoint("facebook/sam2.1-hiera-base-plus").config
        'sam2.1_hiera_b+'

    """
    key = _normalise(name)
    canonical = _ALIASES.get(key, key if key in _BY_NAME else None)
    if canonical is not None:
        return _BY_NAME[canonical]
    known = sorted(_BY_NAME)
    close = close_match(key, [*known, *_ALIASES])
    hint = f" Did you mean {_ALIASES.get(close, close)!r}?" if close else ""
    raise ConfigError(
        f"unknown checkpoint {name!r}; expected one of {', '.join(known)} "
        f"(or an alias such as 'tiny' or 'facebook/sam2.1-hiera-tiny').{hint}"
    )


def find_checkpoint_by_filename(filename: str) -> CheckpointSpec | None:
    """Return the official checkpoint whose cached file name is ``filename``, or None.

    Example:
        >>> find_checkpoint_by_filename("sam2_hiera_large.pt").name
        'sam2_hiera_large'

    """
    return next((spec for spec in _SPECS if spec.filename == filename), None)


def find_checkpoint_by_url(url: str) -> CheckpointSpec | None:
    """Return the official checkpoint whose download URL is exactly ``url`` (stripped), or None.

    Example:
        >>> find_checkpoint_by_url(get_checkpoint("tiny").url).name
        'sam2.1_hiera_tiny'

    """
    text = url.strip()
    return next((spec for spec in _SPECS if spec.url == text), None)


def infer_config_name(checkpoint: str | Path) -> str | None:
    """Guess the SAM2 model config from a checkpoint file name or URL.

    Args:
        checkpoint: A path, file name or URL such as ``.../sam2.1_hiera_small.pt`` or
            ``my_sam2.1_hiera_b+_finetuned.pt``.

    Returns:
        The config name (``sam2.1_hiera_s``), or None when the name does not say.

    Example:
        >>> infer_config_name("https://example.org/x/sam2.1_hiera_small.pt")
        'sam2.1_hiera_s'
        >>> infer_config_name("model.pt") is None
        True

    """
    text = str(checkpoint)
    if "://" in text:
        text = urllib.parse.unquote(urllib.parse.urlsplit(text).path)
    stem = text.replace("\\", "/").rsplit("/", 1)[-1].lower().replace("-", "_")
    match = _CONFIG_RE.search(stem)
    if match is None:
        return None
    family = "sam2.1" if match.group("v") else "sam2"
    return f"{family}_hiera_{_suffix(_SIZE_WORDS[match.group('size')])}"


__all__ = [
    "CheckpointSpec",
    "find_checkpoint_by_filename",
    "find_checkpoint_by_url",
    "get_checkpoint",
    "infer_config_name",
    "list_checkpoints",
]
