"""Content generators of synthetic documents: bundled fonts, portraits, barcodes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import idseg
from idseg.documents.synth import fonts
from idseg.documents.synth.aamva import aamva_text
from idseg.documents.synth.barcode import (
    CODE128_PATTERNS,
    code128,
    code128_modules,
    code128_values,
    fit_code128,
    fit_pdf417,
    pdf417,
)
from idseg.documents.synth.identity import random_identity
from idseg.documents.synth.portrait import draw_portrait
from idseg.errors import InputError

FONT_DIR = Path(idseg.__file__).parent / "assets" / "fonts"


# ---------------------------------------------------------------- fonts


def test_fonts_are_bundled_in_the_package():
    assert set(fonts.FONT_NAMES) == set(fonts.FONT_FILES)
    licences = (FONT_DIR / "LICENSES.md").read_text(encoding="utf-8")
    total = 0
    for name, filename in fonts.FONT_FILES.items():
        path = FONT_DIR / filename
        assert "/usr/share" not in str(path.resolve())
        assert fonts.font_bytes(name) == path.read_bytes()
        assert f"`{filename}`" in licences
        total += path.stat().st_size
    assert total < 3_200_000
    assert "SIL OPEN FONT LICENSE Version 1.1" in licences
    assert "Bitstream Vera Fonts Copyright" in licences


def test_every_font_loads_and_names_itself():
    families = {
        "sans": "DejaVu Sans",
        "sans-bold": "DejaVu Sans",
        "mono": "DejaVu Sans Mono",
        "serif": "DejaVu Serif",
        "serif-bold": "DejaVu Serif",
        "liberation-serif": "Liberation Serif",
        "ocrb": "OCR B",
    }
    for name in fonts.FONT_NAMES:
        font = fonts.font(name, 20)
        assert font.getname()[0] == families[name]
        assert font is fonts.font(name, 20)  # cached
    assert fonts.font("sans-bold", 20).getname()[1] == "Bold"
    assert fonts.mrz_font(12) is fonts.font(fonts.MRZ_FONT, 12)


def test_text_fonts_cover_the_template_names_and_exclude_ocrb():
    names = fonts.text_fonts()
    assert {"sans", "sans-bold", "serif", "serif-bold", "mono"} <= set(names)
    assert fonts.MRZ_FONT not in names


def test_font_errors():
    with pytest.raises(InputError, match="did you mean 'serif'"):
        fonts.font("serf", 10)
    for size in (0, 2001, 1.5, True):
        with pytest.raises(InputError, match="font size"):
            fonts.font("sans", size)


def _draw(text, font_name, size):
    img = Image.new("L", (400, 60), 0)
    ImageDraw.Draw(img).text((4, 4), text, font=fonts.font(font_name, size), fill=255)
    return np.asarray(img)


def test_text_renders_identically_every_time():
    a = _draw("P<UTOERIKSSON<<ANNA", "ocrb", 28)
    b = _draw("P<UTOERIKSSON<<ANNA", "ocrb", 28)
    assert np.array_equal(a, b) and a.any()
    # every MRZ character has ink in OCR-B
    font = fonts.mrz_font(20)
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<":
        assert font.getmask(char).getbbox() is not None, char
    # diacritics render in the text fonts (no missing-glyph box identical to another letter)
    assert not np.array_equal(_draw("Müller", "sans", 24), _draw("Muller", "sans", 24))


def test_fit_size_is_the_largest_size_that_fits():
    text = "ERIKSSON<<ANNA<MARIA"
    size = fonts.fit_size("ocrb", text, 300, 40)
    _, _, right, bottom = fonts.font("ocrb", size).getbbox(text)
    assert right <= 300 and bottom <= 40
    _, _, right, bottom = fonts.font("ocrb", size + 1).getbbox(text)
    assert right > 300 or bottom > 40


# ---------------------------------------------------------------- portraits


def test_portrait_shapes_and_determinism():
    rgb, person = draw_portrait(np.random.default_rng(11), 300, 400)
    assert rgb.shape == (400, 300, 3) and rgb.dtype == np.uint8
    assert person.shape == (400, 300) and person.dtype == bool
    again, person_again = draw_portrait(np.random.default_rng(11), 300, 400)
    assert np.array_equal(rgb, again) and np.array_equal(person, person_again)
    other, _ = draw_portrait(np.random.default_rng(12), 300, 400)
    assert not np.array_equal(rgb, other)


@pytest.mark.parametrize("size", [(300, 400), (64, 80), (17, 23), (400, 300)])
def test_portrait_mask_covers_everything_drawn(size):
    width, height = size
    for seed in range(25):
        rgb, person = draw_portrait(np.random.default_rng(seed), width, height)
        share = person.mean()
        assert 0.15 < share < 0.85, (seed, share)
        assert person[-1].any()  # shoulders reach the bottom edge
        assert not person[0, 0] and not person[0, -1]  # top corners are background
        # the background is a vertical gradient: outside the figure every row has one colour
        for y in range(height):
            outside = rgb[y][~person[y]]
            if len(outside):
                assert (outside == outside[0]).all(), (seed, y)


@pytest.mark.parametrize("size", [(300, 400), (40, 52), (17, 23)])
def test_photo_portraits_are_deterministic_lit_and_textured(size):
    width, height = size
    for seed in range(6):
        flat, person = draw_portrait(np.random.default_rng(seed), width, height)
        photo, person_photo = draw_portrait(np.random.default_rng(seed), width, height, photo=True)
        again, _ = draw_portrait(np.random.default_rng(seed), width, height, photo=True)
        assert photo.shape == flat.shape and photo.dtype == np.uint8
        assert np.array_equal(photo, again)
        assert 0.15 < person_photo.mean() < 0.9 and person_photo[-1].any()
        assert not person_photo[0, 0] and not person_photo[0, -1]
        # a bigger head than the flat figure's, as ID photos frame it
        assert person_photo[: height // 2].mean() >= person[: height // 2].mean()
        if width < 100:
            continue
        # flat shapes are piecewise constant; a photograph varies almost everywhere
        flat_steps = (np.abs(np.diff(flat.astype(int), axis=1)).sum(axis=2) > 0).mean()
        photo_steps = (np.abs(np.diff(photo.astype(int), axis=1)).sum(axis=2) > 0).mean()
        assert flat_steps < 0.2 < photo_steps, (seed, flat_steps, photo_steps)
        # one-sided light: the lit and the shaded half of the face differ
        inner = person & (np.arange(width)[None, :] > width * 0.3)
        inner &= np.arange(width)[None, :] < width * 0.7
        grey = photo.astype(float).mean(axis=2)
        left = grey[inner & (np.arange(width)[None, :] < width / 2)].mean()
        right = grey[inner & (np.arange(width)[None, :] >= width / 2)].mean()
        assert abs(left - right) > 1.0, (seed, left, right)


def test_portraits_vary():
    heads = []
    for seed in range(30):
        rgb, _ = draw_portrait(np.random.default_rng(seed), 120, 160)
        heads.append(rgb[60:70, 55:65].reshape(-1, 3).mean(axis=0))
    spread = np.ptp(np.array(heads), axis=0)
    assert (spread > 60).all()


def test_portrait_rejects_bad_sizes():
    rng = np.random.default_rng(0)
    for width, height in ((5, 100), (100, 5000), (100.0, 100), (True, 100)):
        with pytest.raises(InputError, match="portrait"):
            draw_portrait(rng, width, height)


# ---------------------------------------------------------------- Code 128


def test_code128_table():
    assert len(CODE128_PATTERNS) == 107
    assert len(set(CODE128_PATTERNS)) == 107
    for value, pattern in enumerate(CODE128_PATTERNS[:106]):
        widths = [int(c) for c in pattern]
        assert len(widths) == 6 and sum(widths) == 11, value
        assert sum(widths[0::2]) % 2 == 0, value  # even bar parity
    assert sum(int(c) for c in CODE128_PATTERNS[106]) == 13


def _bits(modules):
    return "".join("1" if m else "0" for m in modules)


def test_code128_known_encodings():
    bits = _bits(code128_modules("Wikipedia"))
    assert bits.startswith("11010010000")  # Start B
    assert bits.endswith("1100011101011")  # stop
    assert len(bits) == 11 * (1 + 9 + 1) + 13
    # Wikipedia: Start B 104, then W i k i p e d i a = 55 73 75 73 80 69 68 73 65; checksum by hand:
    # 104 + 1*55 + 2*73 + 3*75 + 4*73 + 5*80 + 6*69 + 7*68 + 8*73 + 9*65 = 3281 = 31*103 + 88
    assert code128_values("Wikipedia") == [104, 55, 73, 75, 73, 80, 69, 68, 73, 65, 88, 106]
    # the checksum example of the Code 128 article: PJJ123C -> 879 mod 103 = 55
    assert code128_values("PJJ123C")[-2] == 55
    assert bits[11:22] == "11101000110"  # "W" = value 55, pattern 311321


def _read_code128(bars, module_px):
    row = bars[0]
    ink = np.flatnonzero(row)
    row = row[ink[0] : ink[-1] + 1]
    edges = np.flatnonzero(np.diff(row.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [row.size]]))
    assert (runs % module_px == 0).all()
    widths = "".join(str(r // module_px) for r in runs)
    lookup = {p: v for v, p in enumerate(CODE128_PATTERNS)}
    symbols = [widths[i : i + 6] for i in range(0, len(widths) - 7, 6)] + [widths[-7:]]
    return [lookup[s] for s in symbols]


def test_code128_rendering_reads_back():
    code = code128("ID-2024/UTO", module_px=3, height_px=20, quiet_modules=10)
    assert code.bars.shape == (20, (11 * (1 + 11 + 1) + 13 + 20) * 3)
    assert not code.bars[:, :30].any() and not code.bars[:, -30:].any()
    assert (code.bars == code.bars[0]).all()  # every row identical
    assert np.array_equal(code.rgb[code.bars], np.zeros((code.bars.sum(), 3), np.uint8))
    values = _read_code128(code.bars, 3)
    assert values == code128_values("ID-2024/UTO")
    assert "".join(chr(v + 32) for v in values[1:-2]) == "ID-2024/UTO"


def test_fit_code128_and_errors():
    code = fit_code128("L898902C3", 500, 50)
    assert code.bars.shape[0] == 50 and code.bars.shape[1] <= 500
    assert code.module_px == 500 // (11 * 11 + 13 + 20)
    with pytest.raises(InputError, match="width"):
        fit_code128("L898902C3", 100, 50)
    with pytest.raises(InputError, match="ASCII"):
        code128("Müller")
    with pytest.raises(InputError, match="ASCII"):
        code128("")


# ---------------------------------------------------------------- PDF417

START = "11111111010101000"
STOP = "111111101000101001"


def _runs(bits):
    return [len(list(group)) for _, group in itertools.groupby(bits)]


def test_pdf417_structure():
    ident = random_identity(np.random.default_rng(3))
    text = aamva_text(ident)
    code = pdf417(text, module_px=2, row_ratio=3, columns=8, security_level=3, quiet_modules=2)
    bars = code.bars
    width_modules = 17 * (8 + 4) + 1
    assert bars.shape[1] == (width_modules + 4) * 2
    assert (bars.shape[0] - 8) % 6 == 0  # rows of 3 modules x 2 px, plus the quiet zone
    rows = (bars.shape[0] - 8) // 6
    assert 3 <= rows <= 90
    assert not bars[:4].any() and not bars[-4:].any()
    assert not bars[:, :4].any() and not bars[:, -4:].any()
    for r in range(rows):
        block = bars[4 + r * 6 : 4 + (r + 1) * 6, 4:-4]
        assert (block == block[0]).all()  # a row is 6 identical pixel lines
        modules = block[0].reshape(-1, 2)
        assert (modules == modules[:, :1]).all()  # every module is 2 px wide
        bits = _bits(modules[:, 0])
        assert bits.startswith(START) and bits.endswith(STOP)
        for c in range(1, 8 + 3):
            word = bits[c * 17 : (c + 1) * 17]
            runs = _runs(word)
            assert word[0] == "1" and word[-1] == "0"
            assert len(runs) == 8 and max(runs) <= 6
            bar = runs[0::2]
            # ISO 15438: the cluster of a codeword is (b1 - b2 + b3 - b4 + 9) mod 9 = 3 * (row mod 3)
            assert (bar[0] - bar[1] + bar[2] - bar[3] + 9) % 9 == 3 * (r % 3)


def test_pdf417_is_deterministic_and_fits():
    text = aamva_text(random_identity(np.random.default_rng(8)))
    a = fit_pdf417(text, 605, 208)
    b = fit_pdf417(text, 605, 208)
    assert np.array_equal(a.bars, b.bars) and np.array_equal(a.rgb, b.rgb)
    assert a.bars.shape[0] <= 208 and a.bars.shape[1] <= 605 and a.module_px >= 2
    assert a.bars.any()
    with pytest.raises(InputError, match="fits"):
        fit_pdf417(text, 60, 20)


def test_aamva_text_header_and_fields():
    ident = random_identity(np.random.default_rng(21))
    text = aamva_text(ident)
    assert text.startswith("@\n\x1e\rANSI ")
    assert text[15:21] == "100001"  # AAMVA version 10, jurisdiction version 00, 1 entry
    assert text[21:23] == "DL"
    offset, length = int(text[23:27]), int(text[27:31])
    assert text[offset : offset + 2] == "DL" and offset + length == len(text)
    assert text.endswith("\r") and text.isascii()
    fields = dict((line[:3], line[3:]) for line in text[offset + 2 : -1].split("\n"))
    assert fields["DAQ"] == ident.document_number
    assert fields["DBB"] == ident.birth_date.strftime("%m%d%Y")
    assert fields["DBA"] == ident.expiry_date.strftime("%m%d%Y")
    assert fields["DBC"] in {"1", "2", "9"}
