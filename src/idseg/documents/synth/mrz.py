"""ICAO 9303 machine-readable zones: check digits, TD1/TD2/TD3 lines, parsing and validation.

Character positions, check digits and composite spans follow Doc 9303 Parts 3 to 6 (TD3: Part 4,
TD1: Part 5, TD2: Part 6). The name field comes from :mod:`idseg.documents.synth.mrz_names`
(re-exported here).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any

from idseg.documents.synth.mrz_names import name_field, transliterate
from idseg.errors import InputError

if TYPE_CHECKING:
    from idseg.documents.synth.identity import Identity

logger = logging.getLogger(__name__)

__all__ = [
    "MRZ_SHAPES",
    "check_digit",
    "mrz_lines",
    "name_field",
    "parse_mrz",
    "transliterate",
]

#: MRZ shape per document kind: (lines, characters per line).
MRZ_SHAPES: dict[str, tuple[int, int]] = {"td1": (3, 30), "td2": (2, 36), "td3": (2, 44)}

_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {"<": 0}
_WEIGHTS = (7, 3, 1)
_MRZ_RE = re.compile(r"[A-Z0-9<]*")
_DOC_CODE_RE = re.compile(r"[A-Z][A-Z<]?")


def check_digit(text: str) -> str:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating; digits count as their value, A-Z as 10-35, '<' as 0.

    Args:
        text: Characters from ``[0-9A-Z<]``.

    Returns:
        One digit, ``"0"`` to ``"9"``.

    Raises:
        InputError: A character outside the MRZ character set.

    Example:
        >>> check_digit("L898902C3"), check_digit("740812"), check_digit("120415")
        ('6', '2', '9')
    """
    total = 0
    for i, char in enumerate(text):
        if char not in _VALUES:
            raise InputError(f"MRZ text must contain only 0-9, A-Z and '<', got {char!r}")
        total += _VALUES[char] * _WEIGHTS[i % 3]
    return str(total % 10)


def _pad(text: str, length: int) -> str:
    return text[:length].ljust(length, "<")


def _date(day: dt.date) -> str:
    return day.strftime("%y%m%d")


def _doc_code(doc_code: str | None, kind: str) -> str:
    code = ("P" if kind == "td3" else "I") if doc_code is None else doc_code
    if not _DOC_CODE_RE.fullmatch(code):
        raise InputError(f"document code must be 1 or 2 characters A-Z (then '<'), got {code!r}")
    return _pad(code, 2)


def _number(number: str, optional: str, opt_len: int) -> tuple[str, str]:
    """Document number field + check digit, and the optional-data field (long-number rule)."""
    if len(number) <= 9:
        field = _pad(number, 9)
        return field + check_digit(field), _pad(optional, opt_len)
    extension = number[9:] + check_digit(number)
    if len(extension) > opt_len:
        raise InputError(
            f"document number too long for this MRZ: at most {9 + opt_len - 1} characters, "
            f"got {len(number)}"
        )
    return number[:9] + "<", _pad(extension + "<" + optional, opt_len)


def _td3(ident: Identity, code: str) -> list[str]:
    if len(ident.document_number) > 9:
        raise InputError(
            f"a TD3 document number has at most 9 characters, got {len(ident.document_number)}"
        )
    line1 = code + _pad(ident.issuing_state, 3) + name_field(ident.surname, ident.given_names, 39)
    number, _ = _number(ident.document_number, "", 0)
    personal = _pad(ident.optional_data, 14)
    personal_check = check_digit(personal) if personal.strip("<") else "<"
    birth, expiry = _date(ident.birth_date), _date(ident.expiry_date)
    line2 = (
        f"{number}{_pad(ident.nationality, 3)}{birth}{check_digit(birth)}{ident.sex}"
        f"{expiry}{check_digit(expiry)}{personal}{personal_check}"
    )
    return [line1, line2 + check_digit(line2[0:10] + line2[13:20] + line2[21:43])]


def _td2(ident: Identity, code: str) -> list[str]:
    line1 = code + _pad(ident.issuing_state, 3) + name_field(ident.surname, ident.given_names, 31)
    number, optional = _number(ident.document_number, ident.optional_data, 7)
    birth, expiry = _date(ident.birth_date), _date(ident.expiry_date)
    line2 = (
        f"{number}{_pad(ident.nationality, 3)}{birth}{check_digit(birth)}{ident.sex}"
        f"{expiry}{check_digit(expiry)}{optional}"
    )
    return [line1, line2 + check_digit(line2[0:10] + line2[13:20] + line2[21:35])]


def _td1(ident: Identity, code: str) -> list[str]:
    number, optional = _number(ident.document_number, ident.optional_data, 15)
    line1 = code + _pad(ident.issuing_state, 3) + number + optional
    birth, expiry = _date(ident.birth_date), _date(ident.expiry_date)
    line2 = (
        f"{birth}{check_digit(birth)}{ident.sex}{expiry}{check_digit(expiry)}"
        f"{_pad(ident.nationality, 3)}{'<' * 11}"
    )
    composite = check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    line3 = name_field(ident.surname, ident.given_names, 30)
    return [line1, line2 + composite, line3]


def mrz_lines(kind: str, ident: Identity, doc_code: str | None = None) -> list[str]:
    """Compose the MRZ of an identity.

    Document numbers longer than 9 characters use the TD1/TD2 extension rule (the filler in the
    check-digit position, the rest of the number and its check digit in the optional data).

    Args:
        kind: ``"td1"`` (3 x 30), ``"td2"`` (2 x 36) or ``"td3"`` (2 x 44).
        ident: The holder and document data.
        doc_code: Document code, 1-2 characters (default ``"P"`` for TD3, ``"I"`` otherwise).

    Returns:
        The lines, top to bottom.

    Raises:
        InputError: Unknown kind, bad document code, or a document number too long for the kind.

    Example:
        >>> import numpy as np
        >>> from idseg.documents.synth.identity import random_identity
        >>> lines = mrz_lines("td1", random_identity(np.random.default_rng(0)))
        >>> [len(line) for line in lines]
        [30, 30, 30]
    """
    builders = {"td1": _td1, "td2": _td2, "td3": _td3}
    if kind not in builders:
        raise InputError(f"MRZ kind must be one of td1, td2, td3, got {kind!r}")
    return builders[kind](ident, _doc_code(doc_code, kind))


def _ok(data: str, digit: str) -> bool:
    return digit == check_digit(data)


def _names(field: str) -> tuple[str, str]:
    primary, _, secondary = field.rstrip("<").partition("<<")
    return primary.replace("<", " ").strip(), secondary.replace("<", " ").strip()


def _split_number(field: str, digit: str, optional: str) -> tuple[str, bool, str]:
    """Document number, its check validity and the remaining optional data (long-number rule)."""
    if digit == "<" and optional[:1] not in ("", "<"):
        extension, _, rest = optional.partition("<")
        number = field + extension[:-1]
        return number, _ok(number, extension[-1]), rest.rstrip("<")
    return field.rstrip("<"), _ok(field, digit), optional.rstrip("<")


def _common(code_state: str, name: str) -> dict[str, Any]:
    surname, given = _names(name)
    return {
        "document_code": code_state[0:2].rstrip("<"),
        "issuing_state": code_state[2:5].rstrip("<"),
        "surname": surname,
        "given_names": given,
    }


def _dates(out: dict[str, Any], checks: dict[str, bool], birth: str, expiry: str) -> None:
    out.update(birth_date=birth[:6], expiry_date=expiry[:6])
    checks.update(birth_date=_ok(birth[:6], birth[6]), expiry_date=_ok(expiry[:6], expiry[6]))


def _parse_td3(l1: str, l2: str) -> dict[str, Any]:
    out = _common(l1[0:5], l1[5:44])
    personal, personal_digit = l2[28:42], l2[42]
    empty_ok = not personal.strip("<") and personal_digit in "<0"
    checks = {"document_number": _ok(l2[0:9], l2[9])}
    _dates(out, checks, l2[13:20], l2[21:28])
    checks["optional_data"] = empty_ok or _ok(personal, personal_digit)
    checks["composite"] = _ok(l2[0:10] + l2[13:20] + l2[21:43], l2[43])
    out.update(document_number=l2[0:9].rstrip("<"), nationality=l2[10:13].rstrip("<"))
    out.update(sex=l2[20], optional_data=personal.rstrip("<"), optional_data_2="", checks=checks)
    return out


def _parse_td2(l1: str, l2: str) -> dict[str, Any]:
    out = _common(l1[0:5], l1[5:36])
    number, number_ok, optional = _split_number(l2[0:9], l2[9], l2[28:35])
    checks = {"document_number": number_ok}
    _dates(out, checks, l2[13:20], l2[21:28])
    checks["composite"] = _ok(l2[0:10] + l2[13:20] + l2[21:35], l2[35])
    out.update(document_number=number, nationality=l2[10:13].rstrip("<"), sex=l2[20])
    out.update(optional_data=optional, optional_data_2="", checks=checks)
    return out


def _parse_td1(l1: str, l2: str, l3: str) -> dict[str, Any]:
    out = _common(l1[0:5], l3)
    number, number_ok, optional = _split_number(l1[5:14], l1[14], l1[15:30])
    checks = {"document_number": number_ok}
    _dates(out, checks, l2[0:7], l2[8:15])
    checks["composite"] = _ok(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])
    out.update(document_number=number, nationality=l2[15:18].rstrip("<"), sex=l2[7])
    out.update(optional_data=optional, optional_data_2=l2[18:29].rstrip("<"), checks=checks)
    return out


def parse_mrz(lines: list[str]) -> dict[str, Any]:
    """Read the fields of an MRZ and verify its check digits.

    Args:
        lines: 3 lines of 30 (TD1), 2 of 36 (TD2) or 2 of 44 (TD3) characters ``[A-Z0-9<]``.

    Returns:
        ``format``, ``document_code``, ``issuing_state``, ``surname``, ``given_names``,
        ``document_number``, ``nationality``, ``birth_date`` and ``expiry_date`` (``YYMMDD``),
        ``sex``, ``optional_data``, ``optional_data_2`` (TD1 line 2), ``checks`` (check name ->
        valid: ``document_number``, ``birth_date``, ``expiry_date``, ``composite``, and for TD3
        ``optional_data``) and ``valid`` (all checks pass).

    Raises:
        InputError: The lines do not have an MRZ shape or contain other characters.

    Example:
        >>> r = parse_mrz(["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        ...                "D231458907UTO7408122F1204159<<<<<<<6"])
        >>> r["format"], r["surname"], r["given_names"], r["valid"]
        ('td2', 'ERIKSSON', 'ANNA MARIA', True)
    """
    shape = (len(lines), len(lines[0]) if lines else 0)
    kinds = {v: k for k, v in MRZ_SHAPES.items()}
    if shape not in kinds or any(len(line) != shape[1] for line in lines):
        raise InputError(
            "an MRZ has 3 lines of 30, 2 of 36 or 2 of 44 characters, got line lengths "
            f"{[len(line) for line in lines]}"
        )
    if not all(_MRZ_RE.fullmatch(line) for line in lines):
        raise InputError("MRZ lines must contain only A-Z, 0-9 and '<'")
    kind = kinds[shape]
    if kind == "td1":
        out = _parse_td1(lines[0], lines[1], lines[2])
    else:
        out = (_parse_td2 if kind == "td2" else _parse_td3)(lines[0], lines[1])
    out["format"] = kind
    out["valid"] = all(out["checks"].values())
    return out
