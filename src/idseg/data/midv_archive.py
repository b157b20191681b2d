"""Safe unpacking of one zip archive into one folder (used for the MIDV archives).

:func:`safe_extract` refuses absolute paths, ``..``, links and special files, members outside the
expected top folder (macOS's ``__MACOSX/`` is skipped), encrypted members, duplicate names, and
archives over the :class:`ExtractLimits` (member count, sizes, compression ratio; a member that
unpacks to more than its header says is stopped while streaming). It unpacks into a temporary folder beside the
destination that replaces it only when complete, so a refused or broken archive leaves the
destination as it was.
"""

from __future__ import annotations

import logging
import re
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from idseg.errors import DownloadError
from idseg.io.atomic import atomic_dir, atomic_write_json

logger = logging.getLogger(__name__)

#: File written into every unpacked folder: the archive's name and SHA-256.
MARKER = ".idseg-archive.json"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ExtractLimits:
    """Limits on what one archive may unpack to (zip-bomb guard).

    Attributes:
        max_members: Entries in the archive.
        max_member_bytes: Uncompressed size of one member.
        max_total_bytes: Uncompressed size of all members.
        max_ratio: Uncompressed / compressed size of a member over 1 MiB.

    Example:
        >>> ExtractLimits().max_members
        100000
    """

    max_members: int = 100_000
    max_member_bytes: int = 2 * 1024**3
    max_total_bytes: int = 32 * 1024**3
    max_ratio: float = 200.0


def _refuse(archive: Path, why: str) -> DownloadError:
    return DownloadError(f"archive {archive.name} refused: {why}; nothing was unpacked")


def _member_path(info: zipfile.ZipInfo, root: str, archive: Path) -> PurePosixPath | None:
    """The member's path below ``root/`` after the safety checks; None: nothing to unpack."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if "\0" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _refuse(archive, f"member {info.filename!r} has an absolute path")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise _refuse(archive, f"member {info.filename!r} points outside the folder ('..')")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refuse(archive, f"member {info.filename!r} is a link or special file")
    if info.flag_bits & 0x1:
        raise _refuse(archive, f"member {info.filename!r} is encrypted")
    if parts and parts[0] == "__MACOSX":
        return None  # resource forks added by macOS archivers: never unpacked
    if not parts or parts[0] != root:
        raise _refuse(archive, f"member {info.filename!r} lies outside {root}/")
    return PurePosixPath(*parts[1:]) if len(parts) > 1 else None


def _check_sizes(infos: Sequence[zipfile.ZipInfo], archive: Path, limits: ExtractLimits) -> None:
    if len(infos) > limits.max_members:
        raise _refuse(archive, f"{len(infos)} members, more than {limits.max_members}")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.max_member_bytes:
            raise _refuse(archive, f"member {info.filename!r} unpacks to {info.file_size} bytes")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _CHUNK and ratio > limits.max_ratio:
            raise _refuse(archive, f"member {info.filename!r} is compressed {ratio:.0f}:1")
    if total > limits.max_total_bytes:
        raise _refuse(archive, f"it unpacks to {total} bytes, more than {limits.max_total_bytes}")


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path) -> None:
    written = 0
    with zf.open(info) as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise _refuse(archive, f"member {info.filename!r} is larger than its header says")
            dst.write(chunk)


def safe_extract(
    archive: Path, dest: Path, root: str, limits: ExtractLimits | None = None, sha256: str = ""
) -> Path:
    """Unpack the ``root/`` folder of a zip archive into ``dest``, safely and atomically.

    Args:
        archive: The zip file.
        dest: Folder that receives the content of ``root/`` (replaced as a whole on success).
        root: The single top folder every member must lie in (the type name).
        limits: Size and count limits; default :class:`ExtractLimits`.
        sha256: The archive's hash, recorded in ``dest/.idseg-archive.json``.

    Raises:
        DownloadError: Not a zip, an unsafe or oversized member; ``dest`` is left as it was.

    Example:
        >>> safe_extract(Path("01_alb_id.zip"), Path("midv/01_alb_id"), "01_alb_id")  # doctest: +SKIP
        PosixPath('midv/01_alb_id')
    """
    limits = limits or ExtractLimits()
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_sizes(infos, archive, limits)
            paths = [_member_path(info, root, archive) for info in infos]
            named = [p for p in paths if p is not None]
            if len(set(named)) < len(named):
                raise _refuse(archive, "a member name appears twice")
            with atomic_dir(dest) as tmp:
                for info, rel in zip(infos, paths, strict=True):
                    if rel is None:
                        continue
                    target = tmp.joinpath(*rel.parts)
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _copy_member(zf, info, target, archive)
                atomic_write_json(tmp / MARKER, {"archive": archive.name, "sha256": sha256})
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise _refuse(archive, f"it is not a readable zip ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise DownloadError(
            f"unpacking {archive.name} failed: {exc}; nothing was unpacked"
        ) from None
    logger.info("unpacked an archive of %d members", len(infos))
    return dest


__all__ = ["MARKER", "ExtractLimits", "safe_extract"]
