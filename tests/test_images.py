"""Tests for idseg.io.images: safe decoding, normalisation to RGB uint8, file discovery.

Every fixture image is built here with Pillow/numpy; no binary file is committed.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from idseg.errors import (
    ConfigError,
    CorruptImageError,
    IdsegError,
    ImageError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)
from idseg.io.images import (
    ALLOWED_FORMATS,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    image_size,
    iter_image_files,
    load_image,
)

RNG = np.random.default_rng(1234)
NOISE = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
_YY, _XX = np.mgrid[0:48, 0:64]
SMOOTH = np.stack([_XX * 4, _YY * 5, np.full_like(_XX, 128)], axis=2).astype(np.uint8)


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def blocky(rows: int = 2, cols: int = 3, block: int = 16) -> np.ndarray:
    """Asymmetric image of saturated colour blocks (JPEG keeps these nearly exact)."""
    palette = np.array(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]],
        np.uint8,
    )
    grid = palette[np.arange(rows * cols).reshape(rows, cols) % len(palette)]
    return np.kron(grid, np.ones((block, block, 1), np.uint8)).astype(np.uint8)


def assert_rgb(out: np.ndarray, shape: tuple[int, int]) -> None:
    assert out.dtype == np.uint8
    assert out.shape == (*shape, 3)
    assert out.flags["C_CONTIGUOUS"]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a tiny compressed IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# ------------------------------------------------------------------------------ good formats


@pytest.mark.parametrize(
    ("fmt", "kwargs", "tolerance"),
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("TIFF", {"compression": "tiff_lzw"}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("JPEG", {"quality": 95}, 12),
        ("WEBP", {"quality": 95}, 12),
    ],
)
@pytest.mark.parametrize("as_file", [True, False])
def test_round_trip(tmp_path, fmt, kwargs, tolerance, as_file):
    image = NOISE if tolerance == 0 else SMOOTH  # lossy codecs get a smooth image
    data = encode(Image.fromarray(image), fmt, **kwargs)
    source: object = data
    if as_file:
        source = tmp_path / f"img.{fmt.lower()}"
        source.write_bytes(data)
    out = load_image(source)
    assert_rgb(out, image.shape[:2])
    assert np.abs(out.astype(int) - image.astype(int)).max() <= tolerance
    assert image_size(source) == image.shape[:2]


def test_lossy_blocky_jpeg_is_near_exact():
    img = blocky()
    out = load_image(encode(Image.fromarray(img), "JPEG", quality=100, subsampling=0))
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 8


def test_mpo_counts_as_jpeg():
    first, second = Image.fromarray(blocky()), Image.new("RGB", (48, 32), "white")
    data = encode(first, "MPO", save_all=True, append_images=[second], quality=100, subsampling=0)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    out = load_image(data, formats={"JPEG"})
    assert np.abs(out.astype(int) - blocky().astype(int)).max() <= 8


@pytest.mark.parametrize("source_kind", ["bytes", "bytearray", "memoryview", "bytesio", "stream"])
def test_byte_sources(source_kind):
    data = encode(Image.fromarray(NOISE), "PNG")

    class ReadOnlyStream:  # not seekable: must be read into memory
        def __init__(self, payload: bytes) -> None:
            self._buf = io.BytesIO(payload)

        def read(self, size: int = -1) -> bytes:
            return self._buf.read(size)

    source = {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "bytesio": io.BytesIO(data),
        "stream": ReadOnlyStream(data),
    }[source_kind]
    assert np.array_equal(load_image(source), NOISE)


def test_stream_read_from_current_position():
    data = encode(Image.fromarray(NOISE), "PNG")
    buf = io.BytesIO(b"HEADER" + data)
    buf.seek(6)
    assert np.array_equal(load_image(buf), NOISE)


# ------------------------------------------------------------------------------ orientation


def _oriented(stored: np.ndarray, orientation: int) -> np.ndarray:
    """How a viewer displays `stored` with EXIF `orientation` (EXIF 2.3 definitions)."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, k=-1),  # rotate 90 degrees clockwise
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, k=1),  # rotate 90 degrees counter-clockwise
    }[orientation](stored)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation(orientation, fmt):
    stored = blocky()  # 32 x 48, top-left block red
    exif = Image.Exif()
    exif[0x0112] = orientation
    kwargs = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    data = encode(Image.fromarray(stored), fmt, exif=exif.tobytes(), **kwargs)
    expected = _oriented(stored, orientation)
    out = load_image(data)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= (8 if fmt == "JPEG" else 0)
    assert image_size(data) == expected.shape[:2]
    # the red corner block ends up where the orientation says
    red_at = np.argwhere((out[..., 0] > 200) & (out[..., 1] < 60) & (out[..., 2] < 60))
    corner_y = 0 if red_at[:, 0].min() == 0 else 1
    corner_x = 0 if red_at[:, 1].min() == 0 else 1
    # stored top-left; 6 = rotate clockwise (goes top-right), 8 = counter-clockwise (bottom-left)
    expected_corner = {1: (0, 0), 2: (0, 1), 3: (1, 1), 4: (1, 0), 5: (0, 0), 6: (0, 1)}
    expected_corner.update({7: (1, 1), 8: (1, 0)})
    assert (corner_y, corner_x) == expected_corner[orientation]


def test_broken_exif_is_ignored():
    data = encode(Image.fromarray(blocky()), "JPEG", exif=b"Exif\x00\x00garbage", quality=100)
    assert load_image(data).shape == (32, 48, 3)


# ------------------------------------------------------------------------------ pixel modes


def _rgba_over_white(rgb: tuple[int, int, int], alpha: int) -> list[int]:
    return [round(c * alpha / 255 + 255 * (1 - alpha / 255)) for c in rgb]


def test_mode_l_and_1():
    gray = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
    out = load_image(encode(Image.fromarray(gray, "L"), "PNG"))
    assert np.array_equal(out, np.repeat(gray[..., None], 3, axis=2))
    bits = RNG.integers(0, 2, (5, 7)).astype(bool)
    out = load_image(encode(Image.fromarray(bits), "PNG"))
    assert Image.fromarray(bits).mode == "1"
    assert np.array_equal(out[..., 1], np.where(bits, 255, 0))


def test_mode_la_over_white():
    la = np.array([[[0, 0], [100, 255], [100, 51]]], np.uint8)
    out = load_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert out[0, :, 0].tolist() == [255, 100, _rgba_over_white((100, 100, 100), 51)[0]]


def test_mode_rgba_over_white():
    rgba = np.array([[[0, 0, 0, 0], [100, 200, 0, 255], [100, 200, 0, 51]]], np.uint8)
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out[0].tolist() == [[255, 255, 255], [100, 200, 0], _rgba_over_white((100, 200, 0), 51)]


@pytest.mark.parametrize("transparent", [False, True])
def test_mode_p(transparent):
    img = Image.new("P", (3, 1))
    img.putpalette([10, 20, 30, 200, 100, 50, 0, 0, 0] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    kwargs = {"transparency": 0} if transparent else {}
    out = load_image(encode(img, "PNG", **kwargs))
    first = [255, 255, 255] if transparent else [10, 20, 30]
    assert out[0].tolist() == [first, [200, 100, 50], [0, 0, 0]]


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(fmt):
    cmyk = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan ink
    data = encode(cmyk, fmt, **({"quality": 100} if fmt == "JPEG" else {}))
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = load_image(data)
    assert np.abs(out.astype(int) - np.array([0, 255, 255])).max() <= 3


def test_16bit_png_gradient_scaled_not_clipped():
    values = np.linspace(0, 65535, 512).round().astype(np.uint16)
    values[1] = 255  # 8-bit white in 16-bit data is almost black
    grad = np.tile(values, (3, 1))
    data = encode(Image.fromarray(grad), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = load_image(data)[..., 0]
    expected = np.floor(values.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    assert np.array_equal(out[0], expected)
    assert out[0, 0] == 0 and out[0, -1] == 255 and out[0, 1] == 1
    assert (np.diff(out[0].astype(int)) >= 0).all()
    assert np.array_equal(out[0] == 255, values >= 65407)  # only the top 1/510 saturates


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_16bit_tiff(dtype):
    values = np.array([[0, 257, 32768, 65535]], dtype=dtype)
    img = Image.fromarray(values)
    assert img.mode in ("I;16", "I;16B")
    out_pil = load_image(img)[0, :, 0].tolist()
    out_tiff = load_image(encode(img, "TIFF"))[0, :, 0].tolist()
    assert out_pil == out_tiff == [0, 1, 128, 255]


@pytest.mark.parametrize(
    ("values", "mode", "expected"),
    [
        (np.array([[0, 32768, 65535]], np.int32), "I", [0, 128, 255]),
        (np.array([[0, 2**30, 2**31 - 1]], np.int32), "I", [0, 128, 255]),
        (np.array([[-(2**31), 0, 2**31 - 1]], np.int32), "I", [0, 128, 255]),
        (np.array([[0.0, 0.5, 1.0]], np.float32), "F", [0, 128, 255]),
        (np.array([[0.0, 100.0, 255.0]], np.float32), "F", [0, 100, 255]),
        (np.array([[-5.0, 32768.0, 65535.0]], np.float32), "F", [0, 128, 255]),
        (np.array([[0.0, 1e6, 2e6]], np.float32), "F", [0, 128, 255]),
    ],
)
def test_wide_modes(values, mode, expected):
    img = Image.fromarray(values)
    assert img.mode == mode
    assert load_image(img)[0, :, 1].tolist() == expected


def test_float_tiff_file():
    img = Image.fromarray(np.array([[0.0, 0.25, 1.0]], np.float32))
    assert load_image(encode(img, "TIFF"))[0, :, 0].tolist() == [0, 64, 255]


@pytest.mark.parametrize(("mode", "color"), [("YCbCr", (76, 85, 255)), ("HSV", (0, 255, 255))])
def test_other_pil_modes(mode, color):
    out = load_image(Image.new(mode, (2, 2), color))
    assert np.abs(out[0, 0].astype(int) - [255, 0, 0]).max() <= 2


# ------------------------------------------------------------------------------ numpy input


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 7]], np.uint8), [[0, 0, 0], [7, 7, 7]]),
        (np.array([[[0], [7]]], np.uint8), [[0, 0, 0], [7, 7, 7]]),
        (np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8), [[1, 2, 3], [4, 5, 6]]),
        (np.array([[[1, 2, 3, 255], [9, 9, 9, 0]]], np.uint8), [[1, 2, 3], [255, 255, 255]]),
        (np.array([[[100, 200, 0, 51]]], np.uint8), [_rgba_over_white((100, 200, 0), 51)]),
        (np.array([[0, 255, 65535]], np.uint16), [[0] * 3, [1] * 3, [255] * 3]),
        (np.array([[0, 255, 65535]], ">u2"), [[0] * 3, [1] * 3, [255] * 3]),
        (np.array([[True, False]]), [[255] * 3, [0] * 3]),
        (np.array([[0.0, 0.5, 1.0]], np.float32), [[0] * 3, [128] * 3, [255] * 3]),
        (np.array([[-0.5, 1.5]], np.float64), [[0] * 3, [255] * 3]),
        (np.array([[[0.2, 0.4, 1.0]]], np.float16), [[51, 102, 255]]),
    ],
)
def test_numpy_inputs(array, expected):
    out = load_image(array)
    assert_rgb(out, array.shape[:2])
    assert out[0].tolist() == expected
    assert image_size(array) == array.shape[:2]


def test_numpy_output_is_a_contiguous_copy():
    src = np.ascontiguousarray(NOISE[:, ::-1])[:, ::2]  # non-contiguous view
    out = load_image(src)
    assert out.flags["C_CONTIGUOUS"] and np.array_equal(out, src)
    out[0, 0] = 0
    rgb = NOISE.copy()
    load_image(rgb)[:] = 0
    assert np.array_equal(rgb, NOISE)


# ------------------------------------------------------------------------------ bad inputs


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


NOISE_JPEG = encode(Image.fromarray(NOISE), "JPEG", quality=90)
NOISE_PNG = encode(Image.fromarray(NOISE), "PNG")

BAD_FILES = [
    ("anim.gif", encode(Image.fromarray(NOISE), "GIF"), UnsupportedFormatError, "GIF"),
    ("icon.ico", encode(Image.fromarray(NOISE), "ICO"), UnsupportedFormatError, "ICO"),
    ("pix.ppm", encode(Image.fromarray(NOISE), "PPM"), UnsupportedFormatError, "PPM"),
    ("rand.jpg", RNG.bytes(2000), UnsupportedFormatError, "not a recognised image"),
    ("notes.jpg", b"Dear reader,\nthis is text.\n", UnsupportedFormatError, "not a recognised"),
    ("empty.png", b"", CorruptImageError, "empty"),
    ("cut.jpg", NOISE_JPEG[: len(NOISE_JPEG) // 2], CorruptImageError, "truncated"),
    ("cut.png", NOISE_PNG[: len(NOISE_PNG) // 2], CorruptImageError, "truncated"),
    ("head.png", NOISE_PNG[:20], CorruptImageError, "PNG"),
    ("bomb.png", bomb_png(50_000, 50_000), ImageTooLargeError, "2500000000"),
]


@pytest.mark.parametrize(("name", "data", "error", "fragment"), BAD_FILES)
def test_bad_files(tmp_path, name, data, error, fragment):
    path = _write(tmp_path, name, data)
    for source in (path, str(path), data):
        with pytest.raises(error, match=fragment):
            load_image(source)
    assert issubclass(error, ImageError) and issubclass(error, IdsegError)


def test_bomb_is_refused_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError, match=r"50000x50000 = 2500000000 .* 100000000"):
        load_image(bomb_png(50_000, 50_000))
    with pytest.raises(ImageTooLargeError):
        image_size(bomb_png(50_000, 50_000))
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's global is untouched


@pytest.mark.parametrize("kind", ["bytes", "pil", "numpy"])
def test_max_pixels_limit(kind):
    img = NOISE[:20, :20]
    source = {
        "bytes": encode(Image.fromarray(img), "PNG"),
        "pil": Image.fromarray(img),
        "numpy": img,
    }[kind]
    with pytest.raises(ImageTooLargeError, match=r"20x20 = 400 pixels.*limit of 100\b"):
        load_image(source, max_pixels=100)
    assert load_image(source, max_pixels=400).shape == (20, 20, 3)
    assert load_image(source, max_pixels=None).shape == (20, 20, 3)


def test_max_pixels_env_override(monkeypatch):
    data = encode(Image.fromarray(NOISE[:20, :20]), "PNG")
    monkeypatch.setenv("IDSEG_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError, match="limit of 100"):
        load_image(data)
    assert load_image(data, max_pixels=1000).shape == (20, 20, 3)  # explicit value wins
    monkeypatch.setenv("IDSEG_MAX_PIXELS", "none")
    assert load_image(data, max_pixels=DEFAULT_MAX_PIXELS).shape == (20, 20, 3)
    assert image_size(bomb_png(50_000, 50_000)) == (50_000, 50_000)  # header only, no limit
    monkeypatch.setenv("IDSEG_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="IDSEG_MAX_PIXELS"):
        load_image(data)


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "100"])
def test_bad_max_pixels(value):
    with pytest.raises(InputError, match="max_pixels"):
        load_image(NOISE, max_pixels=value)


def test_format_allow_list_argument():
    png = encode(Image.fromarray(NOISE), "PNG")
    with pytest.raises(UnsupportedFormatError, match=r"PNG images are not supported.*JPEG"):
        load_image(png, formats={"JPEG"})
    assert load_image(png, formats=["png", "jpg"]).shape == (48, 64, 3)
    with pytest.raises(InputError, match="GIF"):
        load_image(png, formats={"PNG", "GIF"})
    with pytest.raises(InputError, match="at least one"):
        load_image(png, formats=[])
    assert {"JPEG", "PNG", "TIFF", "WEBP", "BMP"} == ALLOWED_FORMATS


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match=r"file not found: .*nope\.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="file not found"):
        image_size(str(tmp_path / "nope.png"))


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.zeros((4, 5, 2), np.uint8), r"shape \(4, 5, 2\)"),
        (np.zeros((1, 4, 5, 3), np.uint8), r"shape \(1, 4, 5, 3\)"),
        (np.zeros(5, np.uint8), r"shape \(5,\)"),
        (np.zeros((4, 5), np.complex64), "dtype complex64"),
        (np.zeros((4, 5), np.int32), "dtype int32"),
        (np.zeros((4, 5), np.uint32), "dtype uint32"),
        (np.zeros((4, 5), object), "dtype object"),
        (np.zeros((0, 5), np.uint8), "non-empty"),
        (np.array([[0.5, np.nan]], np.float32), "NaN"),
        (np.array([[0.5, np.inf]]), "NaN or infinite"),
    ],
)
def test_bad_arrays(array, fragment):
    with pytest.raises(InputError, match=fragment):
        load_image(array)


@pytest.mark.parametrize("source", [42, None, ["a.png"], io.StringIO("text")])
def test_bad_source_types(source):
    with pytest.raises(InputError, match="expected"):
        load_image(source)


def test_unsupported_pil_mode():
    with pytest.raises(UnsupportedFormatError, match="LAB"):
        load_image(Image.new("LAB", (2, 2)))


def test_truncated_pil_image_input():
    img = Image.open(io.BytesIO(NOISE_PNG[: len(NOISE_PNG) // 2]))
    with pytest.raises(CorruptImageError, match="truncated"):
        load_image(img)


def test_global_pillow_state_untouched():
    load_image(NOISE_PNG)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS == 89478485


def test_file_names_only_logged_at_debug(tmp_path, caplog):
    path = _write(tmp_path, "passport-of-someone.png", NOISE_PNG)
    caplog.set_level(logging.INFO, logger="idseg")
    load_image(path)
    assert "passport-of-someone" not in caplog.text
    caplog.set_level(logging.DEBUG, logger="idseg")
    load_image(path)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


# ------------------------------------------------------------------------------ iter_image_files


def test_iter_image_files(tmp_path):
    for rel in [
        "root/a.jpg",
        "root/B.PNG",
        "root/notes.txt",
        "root/sub/c.tif",
        "root/sub/deeper/d.webp",
        "root/sub/deeper/e.bmp",
        "root/.hidden/f.jpg",
        "root/.g.jpg",
        "root/h.gif",
        "solo.gif",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    root = tmp_path / "root"
    missing = tmp_path / "missing.png"
    found = iter_image_files([root / "a.jpg", root, tmp_path / "solo.gif", missing, str(root)])
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == [
        "missing.png",
        "root/B.PNG",
        "root/a.jpg",
        "root/sub/c.tif",
        "root/sub/deeper/d.webp",
        "root/sub/deeper/e.bmp",
        "solo.gif",
    ]
    flat = iter_image_files(root, recursive=False)
    assert [p.name for p in flat] == ["B.PNG", "a.jpg"]
    assert iter_image_files([]) == []
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
    with pytest.raises(ImageError, match="file not found"):
        load_image(found[0])


def test_warns_once_if_someone_else_allows_truncated_images(monkeypatch, caplog):
    import idseg.io.images as images

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    monkeypatch.setattr(images, "_truncated_warning_given", False)
    caplog.set_level(logging.WARNING, logger="idseg")
    load_image(NOISE_PNG)
    load_image(NOISE_PNG)
    warnings = [r for r in caplog.records if "LOAD_TRUNCATED_IMAGES" in r.getMessage()]
    assert len(warnings) == 1
