"""MIDV-500 and MIDV-2019: the registry of the 50 document types and the converter to idseg.

MIDV-500 (Arlazarov et al., Computer Optics 43(5), 2019; CC BY-SA 2.5) holds 500 video clips of
50 identity document types; MIDV-2019 adds clips of the same 50 types in low light and with
strong projective distortion. Both are published as one zip archive per type on Smart Engines'
FTP server (:data:`FTP_URLS`); :mod:`idseg.data.midv_download` downloads and unpacks them.

Published layout, one folder per type (``01_alb_id`` ... ``50_xpo_id``)::

    01_alb_id/images/01_alb_id.tif                 the template (flat document image)
    01_alb_id/ground_truth/01_alb_id.json          template fields: {name: {"quad": [...]}, ...}
    01_alb_id/images/CA/CA01_01.tif                frames of clip CA (type 01, frame 01)
    01_alb_id/ground_truth/CA/CA01_01.json         {"quad": [[x, y], [x, y], [x, y], [x, y]]}

MIDV-500 clip codes (:data:`MIDV500_CLIPS`) pair a background or condition (C clutter, H in hand,
K keyboard, P partly outside the frame, T table) with a phone (A Apple iPhone 5, S Samsung
Galaxy S3); the converter takes every clip folder it finds, so MIDV-2019's clips work the same.
Quads are the document corners clockwise from the document's own top-left, in frame pixels;
corners may lie outside the frame (masks are clipped).

:func:`convert_midv` writes the idseg dataset layout of :mod:`idseg.data.convert`; the group of
every frame is its document type, so splits never put frames of one type on both sides. With
``fields=True`` the template's fields are mapped into each frame through the homography from the
template's corners to the frame's quad, classed by name (:func:`~idseg.data.convert_geometry.field_class`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from idseg._text import did_you_mean
from idseg.data.convert import ConvertReport, DatasetWriter, output_folder
from idseg.data.convert_geometry import Region, as_polygon, field_class
from idseg.errors import IdsegError, InputError
from idseg.io.images import image_size

logger = logging.getLogger(__name__)

#: The 50 document types, as named by the published archives (``<name>.zip``).
MIDV_TYPES: tuple[str, ...] = (
    "01_alb_id", "02_aut_drvlic_new", "03_aut_id_old", "04_aut_id", "05_aze_passport",
    "06_bra_passport", "07_chl_id", "08_chn_homereturn", "09_chn_id", "10_cze_id",
    "11_cze_passport", "12_deu_drvlic_new", "13_deu_drvlic_old", "14_deu_id_new",
    "15_deu_id_old", "16_deu_passport_new", "17_deu_passport_old", "18_dza_passport",
    "19_esp_drvlic", "20_esp_id_new", "21_esp_id_old", "22_est_id", "23_fin_drvlic",
    "24_fin_id", "25_grc_passport", "26_hrv_drvlic", "27_hrv_passport", "28_hun_passport",
    "29_irn_drvlic", "30_ita_drvlic", "31_jpn_drvlic", "32_lva_passport", "33_mac_id",
    "34_mda_passport", "35_nor_drvlic", "36_pol_drvlic", "37_prt_id", "38_rou_drvlic",
    "39_rus_internalpassport", "40_srb_id", "41_srb_passport", "42_svk_id", "43_tur_id",
    "44_ukr_id", "45_ukr_passport", "46_ury_passport", "47_usa_bordercrossing",
    "48_usa_passportcard", "49_usa_ssn82", "50_xpo_id",
)  # fmt: skip

#: The published (FTP, unencrypted) folders of the archives, per dataset.
FTP_URLS: dict[str, str] = {
    "midv500": "ftp://smartengines.com/midv-500/dataset/",
    "midv2019": "ftp://smartengines.com/midv-500/extra/midv-2019/dataset/",
}

#: MIDV-500 clip folders: condition letter + phone letter.
MIDV500_CLIPS: tuple[str, ...] = ("CA", "CS", "HA", "HS", "KA", "KS", "PA", "PS", "TA", "TS")

_FRAME_EXTENSIONS = (".tif", ".tiff", ".jpg", ".jpeg", ".png")


def resolve_types(types: Sequence[str] | None) -> list[str]:
    """Full type names for ``01_alb_id``, ``alb_id``, ``1`` or ``01``; all 50 for None.

    Raises:
        InputError: A name matches no type.

    Example:
        >>> resolve_types(["alb_id", "2", "50_xpo_id"])
        ['01_alb_id', '02_aut_drvlic_new', '50_xpo_id']
    """
    if types is None:
        return list(MIDV_TYPES)
    by_key: dict[str, str] = {}
    for name in MIDV_TYPES:
        number, short = name.split("_", 1)
        by_key.update({name: name, short: name, number: name, str(int(number)): name})
    out: list[str] = []
    for text in types:
        key = str(text).strip().lower()
        if key not in by_key:
            raise InputError(
                f"unknown MIDV document type {text!r}{did_you_mean(key, MIDV_TYPES)} "
                f"Expected a name like 01_alb_id, alb_id or a number 1..{len(MIDV_TYPES)}"
            )
        if by_key[key] not in out:
            out.append(by_key[key])
    return out


def find_type_folders(root: Path, max_depth: int = 3) -> list[Path]:
    """Folders under ``root`` (or ``root`` itself) holding ``images/`` and ``ground_truth/``.

    Example:
        >>> find_type_folders(Path("midv500"))  # doctest: +SKIP
        [PosixPath('midv500/01_alb_id'), PosixPath('midv500/02_aut_drvlic_new')]
    """
    found: list[Path] = []
    level = [Path(root)]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for folder in level:
            if (folder / "images").is_dir() and (folder / "ground_truth").is_dir():
                found.append(folder)
            else:
                nxt.extend(p for p in sorted(folder.iterdir()) if p.is_dir())
        level = nxt
    return sorted(found, key=lambda p: p.name)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable JSON ({type(exc).__name__}: {exc})") from None


def read_quad(path: Path) -> np.ndarray:
    """Read a MIDV frame annotation ``{"quad": [[x, y] x 4]}`` as a ``4 x 2`` float array.

    Raises:
        InputError: Unreadable JSON, no ``quad`` key, or not 4 finite points.

    Example:
        >>> read_quad(Path("ground_truth/CA/CA01_01.json"))  # doctest: +SKIP
        array([[139., 678.], [940., 689.], [966., 1180.], [88., 1167.]])
    """
    from idseg.data.quads import parse_quads

    data = _read_json(path)
    if not isinstance(data, dict) or "quad" not in data:
        raise InputError('expected a JSON object with a "quad" key')
    return parse_quads(data)[0]


def _template_fields(
    folder: Path, overrides: Mapping[str, str | None] | None
) -> tuple[list[Region], tuple[int, int]]:
    """The template's field regions (template pixels) and the template's ``(height, width)``."""
    name = folder.name
    found = (folder / "images").glob(f"{name}.*")
    images = sorted(p for p in found if p.suffix.lower() in _FRAME_EXTENSIONS)
    if not images:
        raise InputError(f"no template image images/{name}.tif")
    hw = image_size(images[0])
    data = _read_json(folder / "ground_truth" / f"{name}.json")
    if not isinstance(data, dict):
        raise InputError("template annotations must be a JSON object of fields")
    regions: list[Region] = []
    for field_name, value in data.items():
        points = value.get("quad") if isinstance(value, dict) else value
        cls = field_class(str(field_name), overrides)
        if cls is not None and points is not None:
            regions.append(Region(str(field_name), cls, as_polygon(points, f"field {field_name}")))
    return regions, hw


def map_regions(
    regions: Sequence[Region], template_hw: tuple[int, int], quad: np.ndarray
) -> list[Region]:
    """Map template regions into a frame through the homography template corners -> ``quad``.

    Example:
        >>> r = Region("photo", "portrait", np.array([[0, 0], [50, 0], [50, 50], [0, 50.0]]))
        >>> quad = np.array([[10, 10], [210, 10], [210, 110], [10, 110.0]])
        >>> map_regions([r], (100, 200), quad)[0].polygon.tolist()
        [[10.0, 10.0], [60.0, 10.0], [60.0, 60.0], [10.0, 60.0]]
    """
    h, w = template_hw
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    homography = cv2.getPerspectiveTransform(corners.astype(np.float32), quad.astype(np.float32))
    out = []
    for r in regions:
        pts = cv2.perspectiveTransform(r.polygon.reshape(-1, 1, 2), homography).reshape(-1, 2)
        out.append(Region(r.name, r.cls, pts.astype(np.float64)))
    return out


def _frames(folder: Path, every: int) -> list[tuple[Path, Path]]:
    """``(annotation, image)`` of every ``every``-th frame of each clip of a type folder."""
    pairs = []
    for clip in sorted(p for p in (folder / "ground_truth").iterdir() if p.is_dir()):
        for gt in sorted(clip.glob("*.json"))[::every]:
            images = folder / "images" / clip.name
            found = [images / (gt.stem + ext) for ext in _FRAME_EXTENSIONS]
            pairs.append((gt, next((p for p in found if p.is_file()), found[0])))
    return pairs


def _convert_type(
    writer: DatasetWriter,
    folder: Path,
    root: Path,
    every: int,
    template: tuple[list[Region], tuple[int, int]] | None,
) -> None:
    for gt, image in _frames(folder, every):
        try:
            quad = read_quad(gt)
            if not image.is_file():
                raise InputError(f"no frame image {image.name} beside the annotation")
            regions = map_regions(*template, quad) if template else []
            writer.add(image, f"{folder.name}_{gt.stem}", folder.name, quad.tolist(), regions)
        except (IdsegError, OSError) as exc:
            writer.skip(gt.relative_to(root).as_posix(), str(exc))


def convert_midv(
    root: Path,
    out: Path,
    *,
    source: str = "midv500",
    types: Sequence[str] | None = None,
    fields: bool = False,
    field_classes: Mapping[str, str | None] | None = None,
    image_format: str = "keep",
    every: int = 1,
    overwrite: bool = False,
) -> ConvertReport:
    """Convert an unpacked MIDV-500 or MIDV-2019 tree into an idseg dataset.

    Args:
        root: The folder holding the type folders (``01_alb_id/`` ...), as unpacked from the
            archives; type folders up to 3 levels down are found.
        out: The dataset folder to write (replaced as a whole at the end).
        source: Name recorded in ``dataset.json`` (``midv500`` or ``midv2019``).
        types: Only these types (see :func:`resolve_types`); None: every type found.
        fields: Also map the template's fields into each frame as field classes.
        field_classes: Field name -> class (or None to leave it out), before the name rules.
        image_format: ``keep`` (copy the TIFF), ``png`` or ``jpg``.
        every: Keep every n-th frame of each clip (consecutive frames are near duplicates).
        overwrite: Replace a non-empty ``out`` whatever it holds; without it only an earlier
            idseg dataset is replaced (:func:`idseg.data.outdir.check_output_folder`).

    Returns:
        The report: images written, and every skipped file with its reason (unreadable or
        malformed JSON, missing image, unreadable image). A bad file never stops the batch.

    Raises:
        InputError: No type folder under ``root``, bad ``types``/``every``, or a bad ``out``
            (a file, overlapping ``root``, or a non-empty folder that is not an idseg dataset).

    Example:
        >>> convert_midv(Path("midv500"), Path("data/midv500"), every=5).images  # doctest: +SKIP
        3000
    """
    root = Path(root)
    if every < 1:
        raise InputError(f"every must be 1 or more, got {every}")
    folders = find_type_folders(root) if root.is_dir() else []
    if types is not None:
        wanted = set(resolve_types(types))
        folders = [f for f in folders if f.name in wanted]
    if not folders:
        raise InputError(
            f"no MIDV type folder (with images/ and ground_truth/) found under {root}; expected "
            "the unpacked archives, e.g. 01_alb_id/images and 01_alb_id/ground_truth"
        )
    with output_folder(Path(out), [root], overwrite) as tmp:
        writer = DatasetWriter(tmp, source, image_format)
        for number, folder in enumerate(folders, start=1):
            template = None
            if fields:
                try:
                    template = _template_fields(folder, field_classes)
                except (IdsegError, OSError) as exc:
                    where = f"{folder.relative_to(root).as_posix()}/ground_truth/{folder.name}.json"
                    writer.skip(where, f"template fields left out: {exc}")
            _convert_type(writer, folder, root, every, template)
            logger.info("converted document type %d of %d", number, len(folders))
        report = writer.finish()
    report.out = Path(out)
    if report.skipped:
        logger.warning("%d annotation files were skipped (see the report)", len(report.skipped))
    return report


__all__ = [
    "FTP_URLS",
    "MIDV500_CLIPS",
    "MIDV_TYPES",
    "convert_midv",
    "find_type_folders",
    "map_regions",
    "read_quad",
    "resolve_types",
]
