"""Finding image files in the paths a user gives (files and folders, walked recursively)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
"""File extensions picked up in folders (compared case-insensitively)."""


@dataclass
class Discovery:
    """What a walk over the user's paths found.

    Attributes:
        images: Image files to process, sorted, de-duplicated. Paths given explicitly are kept
            whatever their extension (and even when missing), so the loader reports them.
        skipped: Files inside walked folders whose extension is not an image extension.
        roots: For each image, the folder it was found under (or its own parent when given
            directly), to name outputs relative to it.

    Example:
        >>> card = Path("scans/a/card.jpg")
        >>> found = Discovery(images=[card], roots={card: Path("scans")})
        >>> found.relative_name(card), found.skipped
        ('a/card.jpg', [])
    """

    images: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    roots: dict[Path, Path] = field(default_factory=dict)

    def relative_name(self, image: Path) -> str:
        """The image's path relative to the folder it was found in (POSIX separators).

        Example:
            >>> card = Path("scans/a/card.jpg")
            >>> Discovery([card], roots={card: Path("scans")}).relative_name(card)
            'a/card.jpg'
        """
        root = self.roots.get(image, image.parent)
        try:
            return image.relative_to(root).as_posix()
        except ValueError:
            return image.name


def require_folder(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Return ``path`` as a :class:`Path`; raise when it exists and is not a folder.

    Every command that writes into an output folder checks this first, so a file given as
    ``--out`` is a clear error instead of a traceback.

    Raises:
        InputError: ``path`` exists and is a file (or anything but a folder).

    Example:
        >>> require_folder("/nonexistent/out")
        PosixPath('/nonexistent/out')
    """
    from idseg.errors import InputError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} must be a folder, but {out} is a file")
    return out


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    return _key(path).startswith(_key(folder) + os.sep)


def discover_images(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    recursive: bool = True,
    exclude: str | os.PathLike[str] | None = None,
) -> Discovery:
    """Expand files and folders into images, and list the other files found in the folders.

    Hidden files and folders (names starting with ``.``) are skipped and symbolic links to
    folders are not followed. Anything inside ``exclude`` (typically the output folder, when it
    lies inside an input folder) is ignored, so a re-run does not read its own outputs.

    Args:
        paths: Files and folders, or one of them.
        recursive: Walk sub-folders too.
        exclude: A folder whose content is ignored.

    Returns:
        The images, the skipped non-image files and the folder each image was found under.

    Example:
        >>> found = discover_images(["scans/", "extra.png"], exclude="scans/out")  # doctest: +SKIP
        >>> found.images, found.skipped  # doctest: +SKIP
        ([PosixPath('extra.png'), PosixPath('scans/a.jpg')], [PosixPath('scans/notes.txt')])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    skip_dir = Path(exclude) if exclude is not None else None
    found = Discovery()
    images: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            images.setdefault(_key(path), path)
            found.roots.setdefault(path, path.parent)
            continue
        for candidate, is_image in _walk(path, recursive):
            if _inside(candidate, skip_dir):
                continue
            if is_image:
                images.setdefault(_key(candidate), candidate)
                found.roots.setdefault(candidate, path)
            else:
                found.skipped.append(candidate)
    found.images = sorted(images.values(), key=lambda p: p.as_posix())
    found.skipped.sort(key=lambda p: p.as_posix())
    return found


def images_to_process(
    paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str]
) -> Discovery:
    """The images under ``paths`` for a batch writing into ``out`` (created; never read back).

    Raises:
        InputError: ``out`` is a file, or no image was found.
    """
    from idseg.errors import InputError

    out_dir = require_folder(out)
    found = discover_images(paths, exclude=out_dir)
    if not found.images:
        raise InputError(
            f"no image found in the given paths (looked for {', '.join(IMAGE_EXTENSIONS)}"
            f"; {len(found.skipped)} other file(s) skipped)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    return found


def _walk(folder: Path, recursive: bool) -> Iterable[tuple[Path, bool]]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root, name), name.lower().endswith(IMAGE_EXTENSIONS)


def iter_image_files(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str], recursive: bool = True
) -> list[Path]:
    """Expand files and folders into a sorted, de-duplicated list of image paths.

    Folders contribute their files whose extension is in :data:`IMAGE_EXTENSIONS`. Paths given
    explicitly are kept whatever their extension, and so are missing paths:
    :func:`idseg.io.images.load_image` then reports them instead of them vanishing.

    Example:
        >>> iter_image_files(["scans/", "extra.png"])  # doctest: +SKIP
        [PosixPath('extra.png'), PosixPath('scans/a.jpg'), PosixPath('scans/b/c.png')]
    """
    return discover_images(paths, recursive).images
