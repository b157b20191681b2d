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
from idseg.io.files import require_folder
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
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    """``(type name, error type, message)`` of every type that could not be got."""

    @property
    def ok(self) -> bool:
        """Whether every type was got (nothing failed)."""
        return not self.failed

    @property
    def succeeded(self) -> list[str]:
        """Types that are now unpacked and verified (in the order they were handled).

        Example:
            >>> DownloadReport(Path("m"), verified=["01_x", "02_y"], failed=[("02_y", "E", "")]).succeeded
            ['01_x']
        """
        failed = {name for name, _, _ in self.failed}
        done = [*self.downloaded, *self.verified, *self.extracted, *self.up_to_date]
        return [name for name in dict.fromkeys(done) if name not in failed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``failed`` as ``{"type", "error", "message"}`` objects).

        Example:
            >>> report = DownloadReport(Path("m"), failed=[("02_x", "DownloadError", "why")])
            >>> report.to_dict()["failed"], report.ok
            ([{'type': '02_x', 'error': 'DownloadError', 'message': 'why'}], False)
        """
        failed = [{"type": t, "error": e, "message": m} for t, e, m in self.failed]
        summary = {**asdict(self), "out": str(self.out), "failed": failed}
        return summary | {"succeeded": self.succeeded, "ok": self.ok}


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
    if base_url is None or base_url.strip().lower().startswith("ftp:"):
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


def _mismatch_advice(job: _Job, name: str, digest: str) -> str:
    """What to do about a present archive whose hash differs, by where it came from."""
    if job.own_archives:
        return "delete it to download it again"
    return (
        f"put the published {name}.zip in {job.archives} instead (idseg never deletes or "
        f"downloads files there), or, if you trust this archive, pass --sha256 {name}={digest}"
    )


def _fetch(job: _Job, name: str) -> None:
    archive, folder = job.archives / f"{name}.zip", job.out / name
    expected = job.expected.get(name)
    if archive.is_file():
        digest = sha256_file(archive)
        if expected is not None and digest != expected:
            raise HashMismatchError(
                f"archive {archive} has SHA-256 {digest}, expected {expected}; "
                + _mismatch_advice(job, name, digest)
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


def _fetch_or_record(job: _Job, name: str) -> None:
    """Get one type; a failure is recorded in the report and the next type goes on."""
    try:
        _fetch(job, name)
    except (DownloadError, InputError) as exc:  # DownloadError covers HashMismatchError
        job.report.failed.append((name, type(exc).__name__, str(exc)))
        logger.warning("MIDV type %s failed (%s); going on", name, type(exc).__name__)
        logger.debug("MIDV type %s: %s", name, exc)


@dataclass(frozen=True)
class _Plan:
    """What the run needs: the expected hashes and, when something is missing, the base URL."""

    dataset: str
    out: Path
    archives: Path
    names: Sequence[str]
    given: Mapping[str, str | None]
    base_url: str | None
    own_archives: bool  # False with an archive folder: nothing is downloaded then

    def resolve(self) -> tuple[dict[str, str], str | None]:
        """Expected SHA-256 per type and the checked base URL; reads, never creates, files."""
        records = read_manifest(self.out)
        expected = {**PINNED_SHA256[self.dataset]}
        for name in self.names:
            chosen = self.given.get(name) or expected.get(name) or records.get(f"{name}.zip")
            if chosen is not None:
                expected[name] = chosen
        if not self.own_archives:
            return expected, None
        missing = [
            n
            for n in self.names
            if not (self.archives / f"{n}.zip").is_file()
            and not (n in expected and _marker_hash(self.out / n) == expected[n])
        ]
        return expected, _archive_url(self.dataset, self.base_url, missing)


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
        Which types were downloaded, verified, unpacked or already up to date, and which
        failed (``report.failed``: type, error type, message). A type that fails (network
        failure, hash mismatch, unsafe archive, archive missing from ``archive_dir``) does not
        stop the others; a partial download is kept and resumed next time.

    Raises:
        DownloadError: No usable source (the message explains the FTP situation), a refused
            ``base_url``, or a corrupt ``hashes.json``; raised before anything is created.
        InputError: Unknown dataset or type, a bad SHA-256, ``out`` is a file, or
            ``archive_dir`` is not a folder.

    Example:
        >>> download_midv("midv500", Path("midv500"), ["alb_id"], "https://mirror.example/midv500/")  # doctest: +SKIP
        DownloadReport(out=PosixPath('midv500'), downloaded=['01_alb_id'], ...)
    """
    out = require_folder(out)
    if dataset not in FTP_URLS:
        raise InputError(f"dataset must be one of {sorted(FTP_URLS)}, got {dataset!r}")
    names = resolve_types(types)
    given = {resolve_types([k])[0]: normalise_sha256(v) for k, v in (sha256 or {}).items()}
    if archive_dir is not None and not Path(archive_dir).is_dir():
        raise InputError(
            f"--archives must be a folder holding <type>.zip files, but {archive_dir} is not one"
        )
    archives = Path(archive_dir) if archive_dir is not None else out / "archives"
    plan = _Plan(dataset, out, archives, names, given, base_url, archive_dir is None)
    plan.resolve()  # refuse a bad source before anything is created
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(out / ".idseg-download.lock"):
        expected, url = plan.resolve()  # again under the lock: the records may have changed
        job = _Job(
            out=out,
            archives=archives,
            own_archives=archive_dir is None,
            base_url=url,
            expected=expected,
            limits=limits or ExtractLimits(),
            transfer={"timeout": timeout, "max_bytes": max_bytes, "offline": offline},
            ssl_context=ssl_context,
            progress=progress,
            keep_archives=keep_archives,
            report=DownloadReport(out),
        )
        for name in names:
            _fetch_or_record(job, name)
    if job.report.failed:
        logger.warning("%d of %d MIDV types failed", len(job.report.failed), len(names))
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
