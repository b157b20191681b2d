"""Flat synthetic documents: sizes, determinism, field geometry against the drawn pixels, MRZ."""

from __future__ import annotations

import numpy as np
import pytest

from idseg.documents.classes import FIELD_CLASSES, KINDS
from idseg.documents.synth.blueprints import MAX_JITTER_MM
from idseg.documents.synth.fonts import fit_size, fits, font
from idseg.documents.synth.identity import random_identity
from idseg.documents.synth.layouts import TEMPLATES, get_template, list_templates
from idseg.documents.synth.mrz import mrz_lines, parse_mrz
from idseg.documents.synth.raster import inside
from idseg.documents.synth.render import render_document, rounded_alpha
from idseg.documents.synth.zones import MRZ_PITCH_MM, MRZ_SPECS
from idseg.errors import InputError

PPM = 4.0  # low resolution keeps the suite fast; geometry rules do not depend on it


@pytest.fixture(scope="module")
def docs():
    """Two documents of every template at PPM, and the seeds that made them."""
    out = {}
    for i, name in enumerate(list_templates()):
        for seed in (i, 100 + i):
            out[(name, seed)] = render_document(
                np.random.default_rng(seed), template=name, px_per_mm=PPM
            )
    return out


def _centre_mask(poly: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside an axis-aligned rectangle (pixel-centre coordinates)."""
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    ys, xs = np.mgrid[0 : hw[0], 0 : hw[1]]
    return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)


def test_at_least_twelve_templates_covering_every_kind():
    assert len(TEMPLATES) >= 12
    assert {t.kind for t in TEMPLATES.values()} == set(KINDS)
    td1 = [get_template(n) for n in list_templates("td1")]
    assert 0 < sum(t.has_mrz for t in td1) < len(td1)  # a share of TD1s carries an MRZ
    assert all(get_template(n).has_mrz for n in list_templates("td3") + list_templates("td2"))
    assert not any(get_template(n).has_mrz for n in list_templates("a4") + list_templates("letter"))


def test_unknown_names_are_refused_with_a_suggestion():
    with pytest.raises(InputError, match="td1_blue_wave"):
        get_template("td1_blue_wav")
    with pytest.raises(InputError, match="td3"):
        list_templates("td4")
    with pytest.raises(InputError, match="td1"):
        render_document(np.random.default_rng(0), kind="td3", template="td1_blue_wave")
    with pytest.raises(InputError, match="px_per_mm"):
        render_document(np.random.default_rng(0), px_per_mm=0.5)


def test_mrz_zone_follows_icao_geometry():
    for kind, spec in MRZ_SPECS.items():
        k = KINDS[kind]
        for name in list_templates(kind):
            zones = [z for z in get_template(name).zones if z.cls == "mrz"]
            if not zones:
                continue
            (z,) = zones
            assert z.w == pytest.approx(k.mrz_chars * MRZ_PITCH_MM)
            assert z.y + z.h == pytest.approx(k.height_mm)
            assert len(spec.centres) == k.mrz_lines == z.lines
    assert MRZ_SPECS["td3"].zone_h == pytest.approx(23.2)


def test_jittered_zones_never_overlap_and_stay_within_tolerance():
    for t in TEMPLATES.values():
        for seed in range(30):
            zones, _ = t.layout(np.random.default_rng(seed))
            for a, b in zip(zones, t.zones, strict=True):
                assert abs(a.x - b.x) <= MAX_JITTER_MM and abs(a.y - b.y) <= MAX_JITTER_MM
            for i, a in enumerate(zones):
                for b in zones[i + 1 :]:
                    apart = (
                        a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
                    )
                    assert apart, (t.name, a.name, b.name)


def test_same_seed_gives_identical_documents():
    a = render_document(np.random.default_rng(7), px_per_mm=PPM)
    b = render_document(np.random.default_rng(7), px_per_mm=PPM)
    assert a.template == b.template
    assert a.image.tobytes() == b.image.tobytes() and a.alpha.tobytes() == b.alpha.tobytes()
    assert [(f.name, f.cls, f.text) for f in a.fields] == [
        (f.name, f.cls, f.text) for f in b.fields
    ]
    assert all(
        np.array_equal(f.polygon, g.polygon) for f, g in zip(a.fields, b.fields, strict=True)
    )
    c = render_document(np.random.default_rng(8), template=a.template, px_per_mm=PPM)
    assert c.image.tobytes() != a.image.tobytes()


def test_every_template_renders_at_its_kind_size(docs):
    for (name, _), doc in docs.items():
        k = KINDS[get_template(name).kind]
        assert doc.kind == k.name and doc.template == name and doc.px_per_mm == PPM
        h, w = round(k.height_mm * PPM), round(k.width_mm * PPM)
        assert doc.image.shape == (h, w, 3) and doc.image.dtype == np.uint8
        assert doc.alpha.shape == (h, w) and doc.alpha.dtype == np.float32
        assert set(doc.ink) == {f.name for f in doc.fields}
        assert {f.cls for f in doc.fields} <= set(FIELD_CLASSES)
        assert len({f.name for f in doc.fields}) == len(doc.fields)


def test_size_follows_resolution():
    doc = render_document(np.random.default_rng(0), template="td1_blue_wave", px_per_mm=8.0)
    assert doc.image.shape[:2] == (432, 685)  # 53.98 x 85.6 mm at 8 px/mm, rounded


def test_polygons_are_tight_rectangles_around_the_ink(docs):
    for (name, _), doc in docs.items():
        hw = doc.alpha.shape
        for f in doc.fields:
            ink = doc.ink[f.name]
            assert f.polygon.shape == (4, 2) and f.polygon.dtype == np.float32
            (x0, y0), (x1, y1) = f.polygon[0], f.polygon[2]
            assert f.polygon.tolist() == [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]  # clockwise
            assert -0.5 <= x0 < x1 <= hw[1] - 0.5 and -0.5 <= y0 < y1 <= hw[0] - 0.5, (name, f.name)
            inside = _centre_mask(f.polygon, hw)
            assert not (ink & ~inside).any(), (name, f.name)  # 100 % of the ink inside
            rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
            assert (cols[0] - 0.5, cols[-1] + 0.5, rows[0] - 0.5, rows[-1] + 0.5) == (
                x0,
                x1,
                y0,
                y1,
            )


def test_fields_of_different_names_do_not_overlap(docs):
    for (name, _), doc in docs.items():
        boxes = [(f.name, f.polygon.min(axis=0), f.polygon.max(axis=0)) for f in doc.fields]
        for i, (na, lo_a, hi_a) in enumerate(boxes):
            for nb, lo_b, hi_b in boxes[i + 1 :]:
                apart = (hi_a <= lo_b).any() or (hi_b <= lo_a).any()
                assert apart, (name, na, nb)


def test_expected_fields_per_kind(docs):
    for (name, _), doc in docs.items():
        classes = {f.cls for f in doc.fields}
        t = get_template(name)
        if t.kind in ("td2", "td3"):
            assert {"portrait", "mrz", "text", "signature"} <= classes
        if t.kind in ("a4", "letter"):
            assert {"text", "signature"} <= classes and not {"mrz", "portrait"} & classes
        assert ("barcode" in classes) == any(z.cls == "barcode" for z in t.zones)
        assert ("mrz" in classes) == t.has_mrz


def test_mrz_text_is_the_identity_mrz(docs):
    checked = 0
    for (name, seed), doc in docs.items():
        t = get_template(name)
        if not t.has_mrz:
            continue
        rng = np.random.default_rng(seed)
        # render_document draws the template (only when not given), then the identity, first
        expected = mrz_lines(t.kind, random_identity(rng), t.doc_code)
        (mrz,) = [f for f in doc.fields if f.cls == "mrz"]
        assert mrz.text.split("\n") == expected
        parsed = parse_mrz(expected)
        assert parsed["valid"] and parsed["format"] == t.kind
        checked += 1
    assert checked >= 8


def test_mrz_ink_has_one_band_per_line_at_the_standard_position():
    doc = render_document(np.random.default_rng(3), template="td3_navy_guilloche", px_per_mm=8.0)
    ink = doc.ink["mrz"]
    rows = np.flatnonzero(ink.any(axis=1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    assert len(bands) == 2
    h = doc.image.shape[0]
    for band, centre_mm in zip(bands, MRZ_SPECS["td3"].centres, strict=True):
        centre = (band[0] + band[-1]) / 2
        assert abs((h - centre) / 8.0 - centre_mm) < MAX_JITTER_MM + 0.5
        assert 1.8 < (band[-1] - band[0] + 1) / 8.0 < 3.2  # character height ~2.35 mm
    cols = np.flatnonzero(ink.any(axis=0))
    assert (cols[-1] - cols[0]) / 8.0 == pytest.approx(43 * MRZ_PITCH_MM, abs=2.5)


def test_portrait_ink_is_the_photo_rectangle(docs):
    for (_, _), doc in docs.items():
        for f in doc.fields:
            if f.cls == "portrait":
                assert doc.ink[f.name].sum() == _centre_mask(f.polygon, doc.alpha.shape).sum()


def test_text_fields_record_their_text(docs):
    for (_, _), doc in docs.items():
        for f in doc.fields:
            if f.cls in ("text", "mrz"):
                assert f.text and f.text.strip()
            if f.cls in ("portrait", "signature"):
                assert f.text is None


def test_rendered_ink_differs_from_the_background():
    doc = render_document(np.random.default_rng(5), template="td3_grey_mesh", px_per_mm=8.0)
    img = doc.image.astype(float).mean(axis=2)
    for f in doc.fields:
        if f.cls in ("text", "mrz"):
            strong = img[doc.ink[f.name]].min()
            assert strong < 90, f.name  # dark print is really on the image


def test_alpha_has_rounded_corners_and_square_pages(docs):
    for (name, _), doc in docs.items():
        a = doc.alpha
        h, w = a.shape
        assert a[h // 2, w // 2] == 1.0 and a.min() >= 0.0 and a.max() <= 1.0
        corners = [a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]
        if KINDS[get_template(name).kind].corner_radius_mm > 0:
            assert corners == [0.0, 0.0, 0.0, 0.0]
            assert 0.0 < a[0, :20].mean() < 1.0  # antialiased ramp along the top edge
        else:
            assert (a == 1.0).all()


def test_rounded_alpha_matches_the_circle():
    a = rounded_alpha(100, 200, 30.0)
    ys, xs = np.mgrid[0:30, 0:30] + 0.5
    d = np.hypot(30 - xs, 30 - ys)
    assert ((d < 29.5) <= (a[:30, :30] == 1.0)).all()
    assert ((d > 30.5) <= (a[:30, :30] == 0.0)).all()
    assert np.array_equal(a, a[::-1, ::-1]) and np.array_equal(a, a[:, ::-1])


def test_lowest_resolution_keeps_every_field_and_rule():
    for name in list_templates():
        doc = render_document(np.random.default_rng(1), template=name, px_per_mm=2.0)
        t = get_template(name)
        assert {f.cls for f in doc.fields} == {z.cls for z in t.zones}, name
        boxes = []
        for f in doc.fields:
            assert not (doc.ink[f.name] & ~_centre_mask(f.polygon, doc.alpha.shape)).any()
            boxes.append((f.polygon.min(axis=0), f.polygon.max(axis=0)))
        for i, (lo_a, hi_a) in enumerate(boxes):
            for lo_b, hi_b in boxes[i + 1 :]:
                assert (hi_a <= lo_b).any() or (hi_b <= lo_a).any(), name


def test_fits_is_the_boundary_fit_size_finds():
    text = "P<UTOERIKSSON<<ANNA"
    size = fit_size("ocrb", text, 300, 40)
    assert fits("ocrb", text, size, 300, 40)
    assert not fits("ocrb", text, size + 1, 300, 40)
    _, _, right, bottom = font("ocrb", size).getbbox(text)
    assert fits("ocrb", text, size, right, bottom)  # the ink box itself fits exactly
    assert not fits("ocrb", text, size, right - 1, bottom)
    assert not fits("ocrb", text, size, right, bottom - 1)


def test_inside_keeps_the_chosen_side_and_the_line():
    assert inside((3.5, 0.0), 0, 3.5, True) and inside((3.5, 0.0), 0, 3.5, False)
    assert inside((1.0, 9.0), 0, 3.5, True) and not inside((1.0, 9.0), 0, 3.5, False)
    assert inside((1.0, 9.0), 1, 3.5, False) and not inside((1.0, 9.0), 1, 3.5, True)
    for doc in (fits, inside):
        assert doc.__doc__ and "Example:" in doc.__doc__ and "Args:" in doc.__doc__


def test_a_style_variant_turns_every_colour_by_one_hue_and_keeps_the_rest():
    import colorsys

    from idseg.documents.synth.styles import vary_style

    base = get_template("td3_navy_guilloche").style
    for seed in range(5):
        new = vary_style(base, np.random.default_rng(seed))
        assert (new.ink, new.text_font, new.languages, new.date_format) == (
            base.ink,
            base.text_font,
            base.languages,
            base.date_format,
        )

        def hue(c):
            return colorsys.rgb_to_hls(*(v / 255 for v in c))[0]

        turns = {
            round((hue(n) - hue(b)) % 1.0, 1)
            for n, b in [(new.accent, base.accent), (new.label_color, base.label_color)]
        }
        assert len(turns) == 1 and 0.05 < turns.pop() < 0.95  # one turn, never none
        light = colorsys.rgb_to_hls(*(v / 255 for v in new.accent))[1]
        assert 0.1 < light < 0.57  # the band stays a band: darker than the paper
    assert vary_style(base, np.random.default_rng(1)) == vary_style(base, np.random.default_rng(1))


def test_a_restyled_document_has_the_same_fields_and_size_in_other_colours():
    plain = render_document(np.random.default_rng(4), template="td1_blue_wave", px_per_mm=4.0)
    other = render_document(
        np.random.default_rng(4), template="td1_blue_wave", px_per_mm=4.0, restyle=True
    )
    assert other.image.shape == plain.image.shape
    assert {f.cls for f in other.fields} == {f.cls for f in plain.fields}
    assert np.abs(other.image.astype(int) - plain.image.astype(int)).mean() > 5


def test_a_real_looking_document_keeps_its_fields_and_is_busier():
    from idseg.documents.synth.painters import _feather

    plain = render_document(
        np.random.default_rng(4), template="td1_dl_green_rosette", px_per_mm=4.0
    )
    real = render_document(
        np.random.default_rng(4), template="td1_dl_green_rosette", px_per_mm=4.0, real=True
    )
    again = render_document(
        np.random.default_rng(4), template="td1_dl_green_rosette", px_per_mm=4.0, real=True
    )
    assert np.array_equal(real.image, again.image)
    assert real.image.shape == plain.image.shape
    assert [(f.cls, f.name) for f in real.fields] == [(f.cls, f.name) for f in plain.fields]
    surname = [next(f.text for f in d.fields if f.name == "surname") for d in (real, plain)]
    assert surname[0] == surname[1] and surname[0]  # the identity is drawn before the art
    assert np.abs(real.image.astype(int) - plain.image.astype(int)).mean() > 3
    ramp = _feather(20, 30, 0.2)
    assert ramp[10, 15] == 1.0 and ramp[0, 0] == pytest.approx(0.2) and ramp[10, 0] < 0.25


@pytest.mark.parametrize("name", list_templates("td1v"))
def test_portrait_format_card_is_tall_with_portrait_above_signature_and_code(name):
    doc = render_document(np.random.default_rng(5), template=name, px_per_mm=4.0)
    h, w = doc.image.shape[:2]
    assert (h, w) == (round(85.6 * 4), round(53.98 * 4))
    boxes = {f.cls: (f.polygon.min(axis=0), f.polygon.max(axis=0)) for f in doc.fields}
    assert set(boxes) == {"portrait", "text", "signature", "barcode"}  # no MRZ on these cards
    (_, portrait_top), (_, portrait_bottom) = boxes["portrait"][0], boxes["portrait"][1]
    assert portrait_top < 0.2 * h and portrait_bottom < 0.55 * h
    assert boxes["portrait"][1][1] < boxes["signature"][0][1] < boxes["barcode"][0][1]
    assert boxes["barcode"][1][1] > 0.85 * h


@pytest.mark.parametrize("name", ["td1_dl_code_sky_waves", "td1_dl_code_lilac_guilloche"])
def test_us_style_front_has_a_code_under_the_portrait_and_us_dates(name):
    doc = render_document(np.random.default_rng(6), template=name, px_per_mm=PPM, real=True)
    h, w = doc.image.shape[:2]
    assert (h, w) == (round(53.98 * PPM), round(85.6 * PPM))  # landscape ID-1
    box = {f.name: (f.polygon.min(axis=0), f.polygon.max(axis=0)) for f in doc.fields}
    assert not any(f.cls == "mrz" for f in doc.fields)
    (px0, _), (px1, py1) = box["portrait"]
    (bx0, by0), (bx1, by1) = box["barcode"]
    assert py1 < by0 and bx0 >= px0 - 2 and bx1 <= px1 + 2  # the code lies under the portrait
    assert by1 < box["surname"][0][1] < box["address"][0][1]  # name and address under the code
    assert box["signature"][0][0] > bx1 and box["signature"][0][1] > 0.7 * h
    dates = [
        f.text
        for seed in range(8)
        for f in render_document(np.random.default_rng(seed), template=name, px_per_mm=2.0).fields
        if f.name.endswith("_date")
    ]
    assert all(d is not None and len(d) == 10 and d[2] == d[5] == "/" for d in dates)
    assert all(int(d[:2]) <= 12 for d in dates)  # month first...
    assert any(int(d[3:5]) > 12 for d in dates)  # ...then the day, as days past 12 show


def test_us_dates_put_the_month_first():
    import datetime as dt

    from idseg.documents.synth.styles import format_date

    assert format_date(dt.date(1985, 3, 17), "MM/DD/YYYY") == "03/17/1985"
    assert format_date(dt.date(1985, 3, 17), "DD/MM/YYYY") == "17/03/1985"


def test_real_card_designs_are_chosen_by_kind_only_for_real_looking_documents():
    drawn = {
        real: {
            render_document(np.random.default_rng(s), kind="td1", px_per_mm=2.0, real=real).template
            for s in range(40)
        }
        for real in (False, True)
    }
    us_style = {n for n in list_templates("td1") if get_template(n).real_only}
    assert us_style == {"td1_dl_code_sky_waves", "td1_dl_code_lilac_guilloche"}
    assert not drawn[False] & us_style and drawn[True] & us_style
