"""ICAO 9303 MRZ composition and parsing, checked against the specimens of Doc 9303."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import numpy as np
import pytest

from idseg.documents.synth.identity import Identity, random_identity
from idseg.documents.synth.mrz import (
    check_digit,
    mrz_lines,
    name_field,
    parse_mrz,
    transliterate,
)
from idseg.errors import InputError

D = dt.date
# Doc 9303 Part 4 (TD3), Part 5 (TD1), Part 6 (TD2) specimens: Anna Maria Eriksson of Utopia.
TD3_SPECIMEN = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
TD1_SPECIMEN = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
TD2_SPECIMEN = [
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
]
# Doc 9303 Part 11 Appendix D.2: a 12-character document number (extension in the optional data).
TD1_LONG = [
    "I<UTOD23145890<7349<<<<<<<<<<<",
    "3407127M9507122UTO<<<<<<<<<<<2",
    "STEVENSON<<PETER<JOHN<<<<<<<<<",
]
TD2_LONG = [
    "I<UTOSTEVENSON<<PETER<JOHN<<<<<<<<<<",
    "D23145890<UTO3407127M95071227349<<<8",
]


def _anna(number: str, optional: str = "") -> Identity:
    return Identity(
        surname="Eriksson",
        given_names="Anna Maria",
        nationality="UTO",
        issuing_state="UTO",
        sex="F",
        birth_date=D(1974, 8, 12),
        expiry_date=D(2012, 4, 15),
        issue_date=D(2002, 4, 16),
        document_number=number,
        optional_data=optional,
        place_of_birth="Zenith",
        authority="Passport Office",
    )


def _peter() -> Identity:
    return dataclasses.replace(
        _anna("D23145890734"),
        surname="Stevenson",
        given_names="Peter John",
        sex="M",
        birth_date=D(1934, 7, 12),
        expiry_date=D(1995, 7, 12),
    )


@pytest.mark.parametrize(
    ("text", "digit"),
    [
        ("L898902C3", "6"),
        ("740812", "2"),
        ("120415", "9"),
        ("ZE184226B<<<<<", "1"),
        ("D23145890734", "9"),
        # by hand: A=10*7 + B=11*3 + 2*1 + '<'=0*7 = 105 -> 5
        ("AB2<", "5"),
        ("", "0"),
    ],
)
def test_check_digit_known_values(text, digit):
    assert check_digit(text) == digit


def test_check_digit_rejects_other_characters():
    with pytest.raises(InputError, match="0-9, A-Z"):
        check_digit("ab1")


def test_specimens_are_reproduced_exactly():
    assert mrz_lines("td3", _anna("L898902C3", "ZE184226B")) == TD3_SPECIMEN
    assert mrz_lines("td1", _anna("D23145890")) == TD1_SPECIMEN
    assert mrz_lines("td2", _anna("D23145890")) == TD2_SPECIMEN
    assert mrz_lines("td1", _peter()) == TD1_LONG
    assert mrz_lines("td2", _peter()) == TD2_LONG


def test_long_document_number_is_refused_where_the_format_has_no_room():
    with pytest.raises(InputError, match="at most 9"):
        mrz_lines("td3", _peter())
    with pytest.raises(InputError, match="too long"):
        mrz_lines("td2", _anna("A" * 20))


@pytest.mark.parametrize("lines", [TD3_SPECIMEN, TD1_SPECIMEN, TD2_SPECIMEN, TD1_LONG, TD2_LONG])
def test_specimens_parse_valid(lines):
    result = parse_mrz(lines)
    assert result["valid"]
    assert all(result["checks"].values())
    assert result["issuing_state"] == result["nationality"] == "UTO"


def test_parse_fields():
    td3 = parse_mrz(TD3_SPECIMEN)
    assert td3["format"] == "td3"
    assert (td3["document_code"], td3["surname"], td3["given_names"]) == (
        "P",
        "ERIKSSON",
        "ANNA MARIA",
    )
    assert (td3["document_number"], td3["birth_date"], td3["expiry_date"]) == (
        "L898902C3",
        "740812",
        "120415",
    )
    assert (td3["sex"], td3["optional_data"]) == ("F", "ZE184226B")
    assert set(td3["checks"]) == {
        "document_number",
        "birth_date",
        "expiry_date",
        "optional_data",
        "composite",
    }
    td1 = parse_mrz(TD1_LONG)
    assert td1["format"] == "td1"
    assert td1["document_number"] == "D23145890734"
    assert (td1["surname"], td1["given_names"], td1["sex"]) == ("STEVENSON", "PETER JOHN", "M")
    assert parse_mrz(TD2_LONG)["document_number"] == "D23145890734"


def _mutate(lines, row, col):
    line = lines[row]
    new = "7" if line[col] != "7" else "8"
    return [*lines[:row], line[:col] + new + line[col + 1 :], *lines[row + 1 :]]


def _failed(lines):
    return {name for name, ok in parse_mrz(lines)["checks"].items() if not ok}


@pytest.mark.parametrize(
    ("lines", "row", "col", "expected"),
    [
        (TD3_SPECIMEN, 1, 3, {"document_number", "composite"}),
        (TD3_SPECIMEN, 1, 9, {"document_number", "composite"}),
        (TD3_SPECIMEN, 1, 15, {"birth_date", "composite"}),
        (TD3_SPECIMEN, 1, 19, {"birth_date", "composite"}),
        (TD3_SPECIMEN, 1, 24, {"expiry_date", "composite"}),
        (TD3_SPECIMEN, 1, 30, {"optional_data", "composite"}),
        (TD3_SPECIMEN, 1, 42, {"optional_data", "composite"}),
        (TD3_SPECIMEN, 1, 43, {"composite"}),
        (TD3_SPECIMEN, 1, 11, set()),  # nationality: no check digit covers it
        (TD1_SPECIMEN, 0, 7, {"document_number", "composite"}),
        (TD1_SPECIMEN, 0, 20, {"composite"}),  # optional data, line 1
        (TD1_SPECIMEN, 1, 2, {"birth_date", "composite"}),
        (TD1_SPECIMEN, 1, 10, {"expiry_date", "composite"}),
        (TD1_SPECIMEN, 1, 20, {"composite"}),  # optional data, line 2
        (TD1_SPECIMEN, 1, 29, {"composite"}),
        (TD2_SPECIMEN, 1, 0, {"document_number", "composite"}),
        (TD2_SPECIMEN, 1, 16, {"birth_date", "composite"}),
        (TD2_SPECIMEN, 1, 23, {"expiry_date", "composite"}),
        (TD2_SPECIMEN, 1, 30, {"composite"}),
        (TD2_SPECIMEN, 1, 35, {"composite"}),
        (TD1_LONG, 0, 16, {"document_number", "composite"}),  # inside the number's extension
    ],
)
def test_one_changed_character_breaks_the_right_checks(lines, row, col, expected):
    assert _failed(lines) == set()
    assert _failed(_mutate(lines, row, col)) == expected


def test_parse_rejects_bad_shapes_and_characters():
    with pytest.raises(InputError, match="line lengths"):
        parse_mrz(["P<UTO", "L898"])
    with pytest.raises(InputError, match="line lengths"):
        parse_mrz([])
    with pytest.raises(InputError, match="only A-Z"):
        parse_mrz([TD2_SPECIMEN[0], TD2_SPECIMEN[1].lower()])


@pytest.mark.parametrize(
    ("surname", "given", "expected"),
    [
        # Doc 9303 Part 7 Section 4.2.3 (39 name positions after "V<UTO")
        ("Heng", "Deborah Ming Lo", "HENG<<DEBORAH<MING<LO"),
        ("Smith-Jones", "Susie Margaret", "SMITH<JONES<<SUSIE<MARGARET"),
        ("O'Connor", "Enya Siobhan", "OCONNOR<<ENYA<SIOBHAN"),
        ("Van Der Muellen", "Martin", "VAN<DER<MUELLEN<<MARTIN"),
        ("Arkfreith", "", "ARKFREITH"),
        (
            "Nilavadhanananda",
            "Chayapa Dejthamrong Krasuang",
            "NILAVADHANANANDA<<CHAYAPA<DEJTHAMRONG<K",
        ),
        ("Nilavadhanananda", "Arnpol Petch Charonguang", "NILAVADHANANANDA<<ARNPOL<PETCH<CHARONGU"),
        (
            "Bennelong Wooloomooloo Warrandyte Warnambool",
            "Dingo Potoroo",
            "BENNELONG<WOOLOOMOOLOO<WARRANDYTE<W<<DI",
        ),
        ("Papandropoulous", "Jonathon Warren Trevor", "PAPANDROPOULOUS<<JONATHON<WARREN<TREVOR"),
    ],
)
def test_name_field_icao_examples(surname, given, expected):
    assert name_field(surname, given, 39) == expected.ljust(39, "<")


def test_truncation_never_ends_on_a_filler():
    # "SMITH<<JOHN<PAUL" cut at 12 would end on "<": the last name loses a letter for an initial
    assert name_field("Smith", "John Paul", 12) == "SMITH<<JOH<P"
    # the component before the cut is one letter: the previous multi-letter one gives up a letter
    assert name_field("Smith", "Al B Carl", 12) == "SMITH<<A<B<C"
    assert name_field("Averyveryverylongsurname", "", 10) == "AVERYVERYV"


def test_transliteration():
    assert transliterate("Müller-Lüdenscheid") == "MUELLER<LUEDENSCHEID"
    assert transliterate("Weiß Øvergård") == "WEISS<OEVERGAARD"
    assert transliterate("Þórsson Łukasiewicz") == "THORSSON<LUKASIEWICZ"
    assert transliterate("Ibáñez  d'Arcy - St. John") == "IBANEZ<DARCY<ST<JOHN"
    assert transliterate("Nguyễn Çelik") == "NGUYEN<CELIK"
    with pytest.raises(InputError, match="surname"):
        name_field("123", "Anna", 30)


def test_identity_validates_its_fields():
    with pytest.raises(InputError, match="sex"):
        dataclasses.replace(_anna("X1"), sex="X")
    with pytest.raises(InputError, match="document_number"):
        dataclasses.replace(_anna("X1"), document_number="ab-1")
    with pytest.raises(InputError, match="nationality"):
        dataclasses.replace(_anna("X1"), nationality="UTOP")


def _age(birth, day):
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def test_random_identities_give_valid_mrz():
    rng = np.random.default_rng(2024)
    charset = re.compile(r"[A-Z0-9<]+")
    for _ in range(300):
        ident = random_identity(rng)
        assert 18 <= _age(ident.birth_date, ident.issue_date) <= 80
        assert 5 <= _age(ident.issue_date, ident.expiry_date + dt.timedelta(days=1)) <= 10
        assert 1 <= len(ident.document_number) <= 9
        for kind, shape in {"td1": (3, 30), "td2": (2, 36), "td3": (2, 44)}.items():
            lines = mrz_lines(kind, ident)
            assert (len(lines), {len(line) for line in lines}) == (shape[0], {shape[1]})
            assert all(charset.fullmatch(line) for line in lines)
            parsed = parse_mrz(lines)
            assert parsed["valid"], (kind, lines)
            assert parsed["document_number"] == ident.document_number
            assert parsed["birth_date"] == ident.birth_date.strftime("%y%m%d")
            assert parsed["expiry_date"] == ident.expiry_date.strftime("%y%m%d")
            assert parsed["sex"] == ident.sex
            assert parsed["nationality"] == ident.nationality
            assert (
                parsed["surname"].replace(" ", "<")
                == transliterate(ident.surname)[: len(parsed["surname"])]
            )


def test_random_identity_is_deterministic_and_varied():
    first = [random_identity(np.random.default_rng(s)) for s in range(40)]
    again = [random_identity(np.random.default_rng(s)) for s in range(40)]
    assert first == again
    assert len({i.surname for i in first}) > 25
    assert {i.sex for i in first} >= {"M", "F"}
    assert any(not i.surname.isascii() or not i.given_names.isascii() for i in first)
