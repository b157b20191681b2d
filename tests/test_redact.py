"""Field redaction: only masked pixels change, content is destroyed, saved copies carry no metadata."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from idseg.documents.classes import CLASS_NAMES
from idseg.documents.redact import redact, redact_file, save_redacted
from idseg.errors import InputError

H, W = 120, 200
MRZ = (slice(80, 110), slice(10, 190))  # a 30 x 180 stripe


def _mrz_image(seed: int = 0) -> np.ndarray:
    """White card with a stripe of random black 'characters' (6 x 10 px cells) in the MRZ box."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 235, np.uint8)
    img[:40, :60] = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)  # portrait-ish noise
    chars = rng.random((3, 30)) < 0.5
    glyphs = np.kron(chars, np.ones((10, 6), bool))
    stripe = img[MRZ]
    stripe[glyphs] = 10
    return img


def _mrz_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[MRZ] = True
    return mask


def _hf_energy(gray: np.ndarray, region: np.ndarray) -> float:
    lap = cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F)
    return float((lap[region] ** 2).mean())


@pytest.mark.parametrize("mode", ["fill", "blur", "pixelate"])
def test_outside_pixels_unchanged(mode):
    img = _mrz_image()
    out = redact(img, {"mrz": _mrz_mask()}, mode=mode, dilate_px=2)
    # The 5x5 ellipse dilation grows a rectangle by 2 px on each side (corners excluded).
    grown = np.zeros((H, W), bool)
    grown[78:112, 8:192] = True
    assert np.array_equal(out[~grown], img[~grown])
    assert not np.array_equal(out[MRZ], img[MRZ])
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert img[85, 100, 0] in (10, 235)  # the input is not modified


def test_fill_exact_colour_and_dilation():
    img = _mrz_image()
    out = redact(img, {"mrz": _mrz_mask()}, mode="fill", dilate_px=2, fill_color=(1, 2, 3))
    assert (out[MRZ] == (1, 2, 3)).all()
    assert tuple(out[78, 100]) == (1, 2, 3)  # 2 px above the stripe: inside the dilation
    assert tuple(out[77, 100]) == (235, 235, 235)  # 3 px above: outside
    assert tuple(out[111, 191]) == (235, 235, 235)  # a corner the ellipse does not reach
    out0 = redact(img, {"mrz": _mrz_mask()}, mode="fill", dilate_px=0)
    assert tuple(out0[79, 100]) == (235, 235, 235)
    assert (out0[MRZ] == 0).all()


def test_blur_destroys_content():
    img = _mrz_image()
    gray = img[..., 0]
    region = _mrz_mask()
    assert gray[region].std() > 100  # the stripe really is high-contrast text
    out = redact(img, {"mrz": region}, mode="blur", dilate_px=0)
    assert out[..., 0][region].std() < 20  # from ~111: the glyphs are gone
    inner = np.zeros((H, W), bool)  # away from the region's border with the unblurred card
    inner[82:108, 12:188] = True
    assert _hf_energy(out[..., 0], inner) < 0.001 * _hf_energy(gray, inner)


def test_blur_scales_with_region():
    # A big region needs a big kernel: a 100 x 100 portrait of noise must be flattened too.
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (140, 140, 3), dtype=np.uint8)
    mask = np.zeros((140, 140), bool)
    mask[20:120, 20:120] = True
    out = redact(img, {"portrait": mask}, mode="blur", dilate_px=0)
    assert out[mask].std() < 0.15 * img[mask].std()
    # A weaker strength blurs less but still changes the region.
    weak = redact(img, {"portrait": mask}, mode="blur", dilate_px=0, strength=0.02)
    assert out[mask].std() < weak[mask].std() < img[mask].std()


def test_pixelate_blocks_are_constant_means():
    img = _mrz_image()
    mask = _mrz_mask()
    out = redact(img, {"mrz": mask}, mode="pixelate", dilate_px=0)
    block = round(0.34 * 30)  # default strength times the stripe's short side
    assert block == 10
    for by in range(80, 110, block):
        for bx in range(10, 190, block):
            cell_in = img[by : by + block, bx : min(bx + block, 190)].reshape(-1, 3)
            cell_out = out[by : by + block, bx : min(bx + block, 190)].reshape(-1, 3)
            assert (cell_out == cell_out[0]).all()
            expected = np.rint(cell_in.astype(np.float64).mean(axis=0))
            assert np.array_equal(cell_out[0], expected)
    assert len(np.unique(out[MRZ][..., 0])) > 1  # not one flat fill


def test_pixelate_region_size_block():
    img = np.random.default_rng(1).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    mask = np.zeros((100, 100), bool)
    mask[0:60, 0:90] = True
    out = redact(img, {"portrait": mask}, mode="pixelate", dilate_px=0, strength=0.5)
    assert (out[0:30, 0:30] == out[0, 0]).all()  # block = 0.5 * 60 = 30
    assert not (out[0:30, 30:60] == out[0, 0]).all()


def test_label_map_and_class_choice():
    img = _mrz_image()
    labels = np.zeros((H, W), np.uint8)
    labels[MRZ] = CLASS_NAMES.index("mrz")
    labels[:40, :60] = CLASS_NAMES.index("portrait")
    out = redact(img, labels, classes=("portrait",), mode="fill", dilate_px=0)
    assert (out[:40, :60] == 0).all()
    assert np.array_equal(out[40:], img[40:])
    both = redact(img, labels, classes="portrait, mrz", dilate_px=0)
    assert (both[MRZ] == 0).all() and (both[:40, :60] == 0).all()


def test_missing_dict_classes_are_skipped():
    img = _mrz_image()
    out = redact(img, {"signature": np.zeros((H, W), bool)}, mode="blur")
    assert np.array_equal(out, img)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classes": ("mzr",)}, r"unknown class 'mzr'; did you mean 'mrz'\?"),
        ({"mode": "blurr"}, r"unknown mode 'blurr'; did you mean 'blur'\?"),
        ({"masks": {"mrz": np.zeros((H, W - 1), bool)}}, r"shape \(120, 200\).*got shape"),
        ({"masks": {"potrait": np.zeros((H, W), bool)}}, r"did you mean 'portrait'"),
        ({"masks": np.full((H, W), 9, np.uint8)}, r"class indices 0 to 6, got 9"),
        ({"masks": np.zeros((H, W), np.float32)}, r"integer array"),
        ({"masks": [1, 2]}, r"got list"),
        ({"dilate_px": -1}, r"dilate_px must be an integer >= 0, got -1"),
        ({"fill_color": (0, 0, 300)}, r"fill_color must be three integers"),
        ({"strength": 0}, r"strength must be in \(0, 1\]"),
        ({"classes": ()}, r"at least one"),
    ],
)
def test_invalid_input(kwargs, match):
    args = {"image": _mrz_image(), "masks": {"mrz": _mrz_mask()}} | kwargs
    with pytest.raises(InputError, match=match):
        redact(**args)


def test_invalid_image():
    with pytest.raises(InputError, match=r"H x W x 3 uint8.*float64"):
        redact(np.zeros((4, 4, 3)), {})


def _jpeg_with_metadata(path, orientation=None):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    img = Image.fromarray(_mrz_image())
    img.save(path, exif=exif, comment=b"Jane Doe passport")
    src = Image.open(path)
    assert src.getexif().get_ifd(0x8825) and src.info.get("comment")  # the test can fail
    return path


def _assert_no_metadata(path):
    with Image.open(path) as im:
        assert not im.getexif()
        assert not im.getexif().get_ifd(0x8825)
        for key in ("exif", "comment", "icc_profile", "xmp", "XML:com.adobe.xmp", "text"):
            assert key not in im.info
        assert not getattr(im, "text", {})


def test_save_redacted_strips_jpeg_metadata(tmp_path):
    src = _jpeg_with_metadata(tmp_path / "id.jpg")
    dst = redact_file(src, tmp_path / "out" / "id_redacted.jpg", {"mrz": _mrz_mask()}, mode="blur")
    assert dst == tmp_path / "out" / "id_redacted.jpg"
    _assert_no_metadata(dst)
    assert [p.name for p in dst.parent.iterdir()] == ["id_redacted.jpg"]  # no temp file left


def test_save_redacted_strips_png_text(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    src = tmp_path / "id.png"
    Image.fromarray(_mrz_image()).save(src, pnginfo=info)
    assert Image.open(src).text == {"Author": "Jane Doe"}
    dst = redact_file(src, tmp_path / "id_redacted.png", {"mrz": _mrz_mask()}, mode="fill")
    _assert_no_metadata(dst)
    with Image.open(dst) as im:
        assert im.format == "PNG"
        saved = np.asarray(im.convert("RGB"))
    expected = _mrz_image()
    expected[MRZ] = 0
    assert np.array_equal(saved[:70], expected[:70])  # lossless; untouched rows identical
    assert (saved[MRZ] == 0).all()


def test_redact_file_applies_exif_orientation(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red; orientation 6 turns it to the top half
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "rot.jpg"
    Image.fromarray(stored).save(src, exif=exif, quality=95)
    mask = np.zeros((40, 20), bool)  # masks match the upright image
    mask[30:, :] = True
    dst = redact_file(
        src,
        tmp_path / "rot_redacted.jpg",
        {"signature": mask},
        classes="signature",
        dilate_px=0,
        fill_color=(0, 255, 0),
        quality=95,
    )
    with Image.open(dst) as im:
        assert im.size == (20, 40)
        assert 0x0112 not in im.getexif()
        up = np.asarray(im.convert("RGB")).astype(int)
    assert (np.abs(up[2:17, 2:18] - (255, 0, 0)) < 40).all()  # top: red
    assert (np.abs(up[22:28, 2:18] - (0, 0, 0)) < 40).all()  # middle: black, untouched
    assert (np.abs(up[33:, 2:18] - (0, 255, 0)) < 40).all()  # bottom: redacted green


def test_save_redacted_format_and_quality(tmp_path):
    img = _mrz_image()
    path = save_redacted(img, tmp_path / "noext", format="jpg")
    assert Image.open(path).format == "JPEG"
    with pytest.raises(InputError, match=r"suffix '.gif'"):
        save_redacted(img, tmp_path / "a.gif")
    with pytest.raises(InputError, match=r"quality must be an integer from 1 to 95"):
        save_redacted(img, tmp_path / "a.jpg", quality=100)
    with pytest.raises(InputError, match=r"did you mean 'JPEG'"):
        save_redacted(img, tmp_path / "a.jpg", format="JPEGG")
    assert not (tmp_path / "a.jpg").exists() and not (tmp_path / "a.gif").exists()
