"""Download the MIDV-500 / MIDV-2019 archives, verify them and unpack them safely.

The official archives are on an FTP server (:data:`idseg.data.midv.FTP_URLS`). FTP is
unencrypted and idseg only downloads over HTTPS, so :func:`download_midv` needs either the
``https://`` address of a mirror holding the same ``<type>.zip`` files (``base_url``), or a
folder where you put archives fetched yourself (``archive_dir``). Either way every archive is
checked and unpacked the same way::

    out/archives/01_alb_id.zip     the downloaded archive (kept unless keep_archives=False)
    out/hashes.json                SHA-256 of every archive, recorded the first time it is seen
    out/01_alb_id/...              the unpacked type folder, in the published layout

No SHA-256 is published for the archives, so the first hash seen is trusted and recorded
(trust on first use; hashes you pass win over it); every later run checks present archives and
re-downloads against it. Downloads are resumable and size-capped
(:func:`idseg.models.transfer.download_with_hash`); unpacking is
:func:`idseg.data.midv_archive.safe_extract` (no ``..``, absolute paths or links, size and ratio
limits, all or nothing). A type whose folder was unpacked from the recorded archive is skipped.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from idseg.data.midv import FTP_URLS, resolve_types
from idseg.data.midv_archive import MARKER, ExtractLimits, safe_extract
from idseg.errors import DownloadError, HashMismatchError, InputError
from idseg.models.cache import file_lock
from idseg.models.hashes import normalise_sha256, read_hash_records, record_hash, sha256_file
from idseg.models.transfer import download_with_hash, require_https

logger = logging.getLogger(__name__)

#: SHA-256 pinned per dataset and type; none are published, so these stay empty.
PINNED_SHA256: dict[str, dict[str, str]] = {"midv500": {}, "midv2019": {}}
MANIFEST = "hashes.json"

#: ``progress(type_name, bytes_so_far, total_or_None)``.
ArchiveProgress = Callable[[str, int, "int | None"], None]


@dataclass
class DownloadReport:
    """What :func:`download_midv` did, by type name.

    Example:
        >>> DownloadReport(Path("midv500")).to_dict()["downloaded"]
        []
    """

    out: Path
    downloaded: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    extracted: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {**asdict(self), "out": str(self.out)}


def read_manifest(out: Path) -> dict[str, str]:
    """The recorded ``<type>.zip -> sha256`` of a download folder (empty when none).

    Raises:
        DownloadError: ``hashes.json`` is corrupt (never treated as empty, so a changed archive
            cannot pass); delete it to trust the present archives again.

    Example:
        >>> read_manifest(Path("midv500")).get("01_alb_id.zip")  # doctest: +SKIP
    """
    return read_hash_records(Path(out), error=DownloadError, what=f"the download folder {out}")


def _marker_hash(folder: Path) -> str | None:
    try:
        value = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _archive_url(dataset: str, base_url: str | None, missing: Sequence[str]) -> str | None:
    """The https base URL, checked; None when nothing has to be downloaded."""
    official = FTP_URLS[dataset]
    if base_url is None and not missing:
        return None
    if base_url is None or base_url.lower().startswith("ftp:"):
        example = missing[0] if missing else "01_alb_id"
        raise DownloadError(
            f"the {dataset} archives are published only on an FTP server ({official}), which is "
            "unencrypted, and idseg downloads over HTTPS only. Either pass the https:// address "
            "of a mirror holding the same <type>.zip files (base_url / --base-url), or fetch "
            f"the archives yourself (e.g. curl -O {official}{example}.zip), put them in one "
            "folder and pass it as archive_dir (--archives): idseg checks, records and unpacks "
            "them. 'idseg data midv convert' also reads archives you unpacked yourself."
        )
    require_https(base_url)
    return base_url.rstrip("/") + "/"


def _record(out: Path, archive: str, digest: str) -> None:
    if archive not in read_manifest(out):
        record_hash(out, archive, digest, error=DownloadError, what=f"the download folder {out}")


@dataclass
class _Job:
    out: Path
    archives: Path
    own_archives: bool
    base_url: str | None
    expected: dict[str, str]
    limits: ExtractLimits
    transfer: dict[str, Any]
    ssl_context: ssl.SSLContext | None
    progress: ArchiveProgress | None
    keep_archives: bool
    report: DownloadReport


def _fetch(job: _Job, name: str) -> None:
    archive, folder = job.archives / f"{name}.zip", job.out / name
    expected = job.expected.get(name)
    if archive.is_file():
        digest = sha256_file(archive)
        if expected is not None and digest != expected:
            raise HashMismatchError(
                f"archive {archive} has SHA-256 {digest}, expected {expected}; "
                "delete it to download it again"
            )
        job.report.verified.append(name)
    elif expected is not None and _marker_hash(folder) == expected:
        job.report.up_to_date.append(name)
        return
    else:
        if job.base_url is None:
            raise DownloadError(f"{archive} is missing (expected {name}.zip in {job.archives})")
        report = job.progress
        digest = download_with_hash(
            f"{job.base_url}{name}.zip",
            archive,
            sha256=expected,
            ssl_context=job.ssl_context,
            progress=None if report is None else (lambda n, t: report(name, n, t)),
            **job.transfer,
        )
        job.report.downloaded.append(name)
    if _marker_hash(folder) == digest and folder.is_dir():
        job.report.up_to_date.append(name)
    else:
        try:
            safe_extract(archive, folder, name, job.limits, digest)
        except DownloadError:
            if job.own_archives and name in job.report.downloaded:
                archive.unlink(missing_ok=True)
            raise
        job.report.extracted.append(name)
    _record(job.out, archive.name, digest)
    if job.own_archives and not job.keep_archives:
        archive.unlink(missing_ok=True)


def download_midv(
    dataset: str,
    out: Path,
    types: Sequence[str] | None = None,
    base_url: str | None = None,
    sha256: Mapping[str, str] | None = None,
    *,
    archive_dir: Path | None = None,
    keep_archives: bool = True,
    limits: ExtractLimits | None = None,
    timeout: float = 30.0,
    max_bytes: int = 4 * 1024**3,
    offline: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    progress: ArchiveProgress | None = None,
) -> DownloadReport:
    """Download (or take from ``archive_dir``), verify and unpack MIDV-500 / MIDV-2019 archives.

    Args:
        dataset: ``midv500`` or ``midv2019``.
        out: Download folder: ``archives/``, ``hashes.json`` and one unpacked folder per type.
        types: Type names (``01_alb_id``, ``alb_id``, ``1``); None: all 50.
        base_url: ``https://`` folder of a mirror holding ``<type>.zip``; FTP is refused.
        sha256: Expected SHA-256 per type name; wins over pinned and recorded hashes.
        archive_dir: Take the archives from this folder instead of downloading them (they are
            never deleted there).
        keep_archives: Keep downloaded archives (needed to re-verify them on later runs).
        limits: Unpacking limits (:class:`ExtractLimits`).
        timeout: Seconds allowed for the connection and every read.
        max_bytes: Size cap of one archive.
        offline: Refuse the network; None reads ``IDSEG_OFFLINE``.
        ssl_context: TLS context (default: the system trust store).
        progress: ``progress(type_name, bytes_so_far, total_or_None)`` during downloads.

    Returns:
        Which types were downloaded, verified, unpacked or already up to date.

    Raises:
        DownloadError: No usable source (the message explains the FTP situation), a network
            failure (the partial file is kept and resumed next time), or an unsafe archive.
        HashMismatchError: An archive differs from the given, pinned or recorded SHA-256.
        InputError: Unknown dataset or type, or a bad SHA-256.

    Example:
        >>> download_midv("midv500", Path("midv500"), ["alb_id"], "https://mirror.example/midv500/")  # doctest: +SKIP
        DownloadReport(out=PosixPath('midv500'), downloaded=['01_alb_id'], ...)
    """
    if dataset not in FTP_URLS:
        raise InputError(f"dataset must be one of {sorted(FTP_URLS)}, got {dataset!r}")
    names, out = resolve_types(types), Path(out)
    given = {resolve_types([k])[0]: normalise_sha256(v) for k, v in (sha256 or {}).items()}
    archives = Path(archive_dir) if archive_dir is not None else out / "archives"
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(out / ".idseg-download.lock"):
        records = read_manifest(out)
        expected = {**PINNED_SHA256[dataset]}
        for name in names:
            chosen = given.get(name) or expected.get(name) or records.get(f"{name}.zip")
            if chosen is not None:
                expected[name] = chosen
        missing = [
            n
            for n in names
            if not (archives / f"{n}.zip").is_file()
            and not (n in expected and _marker_hash(out / n) == expected[n])
        ]
        job = _Job(
            out=out,
            archives=archives,
            own_archives=archive_dir is None,
            base_url=None if archive_dir else _archive_url(dataset, base_url, missing),
            expected=expected,
            limits=limits or ExtractLimits(),
            transfer={"timeout": timeout, "max_bytes": max_bytes, "offline": offline},
            ssl_context=ssl_context,
            progress=progress,
            keep_archives=keep_archives,
            report=DownloadReport(out),
        )
        for name in names:
            _fetch(job, name)
    return job.report


__all__ = [
    "MANIFEST",
    "PINNED_SHA256",
    "ArchiveProgress",
    "DownloadReport",
    "ExtractLimits",
    "download_midv",
    "read_manifest",
]
