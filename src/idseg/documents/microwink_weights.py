"""microwink's ONNX weights, taken from its source distribution on the package index.

The ``microwink`` wheel ships no model, but its sdist (``microwink-0.0.4.tar.gz``) carries
``models/seg_model.onnx``. The weights are found in this order:

1. an explicit path, else ``$IDSEG_MICROWINK_MODEL`` (must be an existing file; not hashed, so a
   user may point at another model);
2. ``<checkpoint folder>/microwink/seg_model.onnx`` (see :func:`idseg.models.cache.checkpoint_dir`)
   when its SHA-256 is the pinned one (a mismatching file is deleted and fetched again);
3. ``pip download`` of the sdist (the package index is the only network a locked-down machine may
   have), from which the one model member is streamed out, hashed, and moved into the cache.

``IDSEG_OFFLINE=1`` forbids step 3.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from idseg.errors import ConfigError, DownloadError, HashMismatchError, InputError, OfflineError
from idseg.io.atomic import atomic_path
from idseg.models.cache import checkpoint_dir, file_lock, is_offline
from idseg.models.hashes import sha256_file

logger = logging.getLogger(__name__)

#: The sdist that carries the weights.
MICROWINK_SDIST_REQUIREMENT = "microwink==0.0.4"
#: SHA-256 of ``models/seg_model.onnx`` in that sdist (13,255,940 bytes).
MICROWINK_MODEL_SHA256 = "13bed6f4f79df731ad9824d0b3def28379216b20bf5204389c1cb47cb60bd353"
#: The same file at a fixed commit of microwink's repository, for a manual download.
MICROWINK_MODEL_URL = (
    "https://github.com/cospectrum/microwink/raw/"
    "bbfd5290e6fc433cdb03c8b372461c6ab55035e0/models/seg_model.onnx"
)
#: Environment variable naming a local copy of ``seg_model.onnx``.
MICROWINK_MODEL_ENV = "IDSEG_MICROWINK_MODEL"
#: Largest model member accepted from the archive.
MAX_MODEL_BYTES = 64 * 1024 * 1024
#: Seconds ``pip download`` may take (it also fetches the sdist's build backend to read metadata).
PIP_TIMEOUT_S = 600.0

_MODEL_NAME = "seg_model.onnx"
_CHUNK = 1 << 20

__all__ = [
    "MICROWINK_MODEL_ENV",
    "MICROWINK_MODEL_SHA256",
    "MICROWINK_MODEL_URL",
    "microwink_cache_path",
    "microwink_model_path",
]


def microwink_cache_path() -> Path:
    """Where the fetched weights are cached (the file may not exist).

    Example:
        >>> microwink_cache_path().parts[-2:]
        ('microwink', 'seg_model.onnx')
    """
    return checkpoint_dir() / "microwink" / _MODEL_NAME


def _manual_hint() -> str:
    return (
        f"download {MICROWINK_MODEL_URL} (or take models/{_MODEL_NAME} from the "
        f"{MICROWINK_SDIST_REQUIREMENT} source distribution), check its SHA-256 is "
        f"{MICROWINK_MODEL_SHA256}, and set {MICROWINK_MODEL_ENV} to its path"
    )


def _explicit_path(model_path: str | os.PathLike[str] | None) -> Path | None:
    """The path given or named by the environment, checked to be a file; None if neither."""
    if model_path is not None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise InputError(f"expected microwink's {_MODEL_NAME} at {path}, found no file")
        return path
    raw = os.environ.get(MICROWINK_MODEL_ENV, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"{MICROWINK_MODEL_ENV} should name microwink's {_MODEL_NAME}, but {path} is not a file"
        )
    return path


def _pip_download(dest: Path) -> Path:
    """Download the microwink sdist into ``dest`` with pip; return the archive's path.

    Build isolation stays on: pip reads the sdist's metadata by running its build backend
    (hatchling), which it installs in a throw-away environment; ``--no-build-isolation`` would
    need hatchling in this environment and fails without it.

    Raises:
        DownloadError: pip is missing, fails, times out, or leaves no archive.
    """
    cmd = [sys.executable, "-m", "pip", "download", MICROWINK_SDIST_REQUIREMENT]
    cmd += ["--no-binary", ":all:", "--no-deps", "--disable-pip-version-check"]
    cmd += ["--progress-bar", "off", "-d", str(dest)]
    logger.debug("running %s", cmd)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DownloadError(
            f"expected 'pip download {MICROWINK_SDIST_REQUIREMENT}' to finish within "
            f"{PIP_TIMEOUT_S:.0f} s, it did not; or {_manual_hint()}"
        ) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DownloadError(
            f"expected 'pip download {MICROWINK_SDIST_REQUIREMENT}' to succeed, it exited with "
            f"{done.returncode}: {' | '.join(tail)}; or {_manual_hint()}"
        )
    archives = sorted(dest.glob("microwink-*.tar.gz"))
    if len(archives) != 1:
        found = [p.name for p in dest.iterdir()]
        raise DownloadError(f"expected one microwink-*.tar.gz from pip, found {found}")
    return archives[0]


def _is_model_member(member: tarfile.TarInfo) -> bool:
    """True for ``<top>/models/seg_model.onnx`` with no absolute or ``..`` part."""
    path = PurePosixPath(member.name)
    parts = path.parts
    return (
        not path.is_absolute()
        and ".." not in parts
        and len(parts) == 3
        and parts[1:] == ("models", _MODEL_NAME)
    )


def _extract_model(archive: Path, dest: Path, sha256: str) -> None:
    """Stream the model member of ``archive`` to ``dest`` (atomically) if its hash is ``sha256``.

    Raises:
        DownloadError: The archive is unreadable, has no such regular file, or it is too big.
        HashMismatchError: The member's SHA-256 differs from ``sha256``; nothing is written.
    """
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if _is_model_member(m)]
            if len(members) != 1 or not members[0].isreg():
                raise DownloadError(
                    f"expected one regular file <package>/models/{_MODEL_NAME} in {archive.name}, "
                    f"found {len(members)} matching member(s)"
                )
            member = members[0]
            if member.size > MAX_MODEL_BYTES:
                raise DownloadError(
                    f"expected {member.name} to be at most {MAX_MODEL_BYTES} bytes, "
                    f"it is {member.size}"
                )
            source = tar.extractfile(member)
            if source is None:  # pragma: no cover - isreg() members always have data
                raise DownloadError(f"cannot read {member.name} from {archive.name}")
            with atomic_path(dest) as tmp, source, tmp.open("wb") as out:
                digest = hashlib.sha256()
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                if digest.hexdigest() != sha256:
                    raise HashMismatchError(
                        f"expected SHA-256 {sha256} for {member.name} in {archive.name}, "
                        f"got {digest.hexdigest()}"
                    )
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(
            f"expected to extract {_MODEL_NAME} from the gzip tar archive {archive.name}, "
            f"got {type(exc).__name__}: {exc}"
        ) from exc


def _cached(path: Path, sha256: str) -> bool:
    """True when ``path`` holds the pinned file; a file with another hash is deleted."""
    if not path.is_file():
        return False
    if sha256_file(path) == sha256:
        return True
    logger.debug("deleting %s: its SHA-256 is not the pinned one", path)
    path.unlink(missing_ok=True)
    return False


def _fetch(dest: Path, sha256: str) -> None:
    """Download the sdist to a temporary folder and pull the model out of it into ``dest``."""
    with tempfile.TemporaryDirectory(prefix="idseg-microwink-") as tmp:
        archive = _pip_download(Path(tmp))
        _extract_model(archive, dest, sha256)


def microwink_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of microwink's ``seg_model.onnx``, fetching it once if needed.

    Args:
        model_path: A local copy; wins over ``$IDSEG_MICROWINK_MODEL`` and the cache.

    Returns:
        ``model_path``, else ``$IDSEG_MICROWINK_MODEL``, else the cached (SHA-256 checked) file,
        fetched from the ``microwink`` sdist on the package index when missing.

    Raises:
        InputError: ``model_path`` is not a file.
        ConfigError: ``$IDSEG_MICROWINK_MODEL`` is set but is not a file.
        OfflineError: Not cached and ``IDSEG_OFFLINE`` is on.
        HashMismatchError: The fetched model is not the pinned file.
        DownloadError: pip fails or the archive has no usable model.

    Example:
        >>> microwink_model_path()  # doctest: +SKIP
        PosixPath('/home/me/.cache/idseg/checkpoints/microwink/seg_model.onnx')
    """
    explicit = _explicit_path(model_path)
    if explicit is not None:
        logger.debug("microwink weights from %s", explicit)
        return explicit
    sha256 = MICROWINK_MODEL_SHA256
    dest = microwink_cache_path()
    if _cached(dest, sha256):
        logger.debug("microwink weights cached at %s", dest)
        return dest
    if is_offline():
        raise OfflineError(
            f"microwink's {_MODEL_NAME} is not in the cache folder {dest.parent} and offline "
            f"mode is on (IDSEG_OFFLINE=1); {_manual_hint()}"
        )
    with file_lock(dest.with_name(dest.name + ".lock")):
        if not _cached(dest, sha256):  # another process may have fetched it meanwhile
            logger.debug("fetching microwink weights into %s", dest)
            _fetch(dest, sha256)
    return dest
