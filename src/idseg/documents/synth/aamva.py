"""AAMVA-like driver-licence records: the text that PDF417 barcodes on synthetic cards carry."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from idseg.documents.synth.mrz import transliterate

if TYPE_CHECKING:
    from idseg.documents.synth.identity import Identity

logger = logging.getLogger(__name__)


def _ascii(text: str) -> str:
    return transliterate(text).replace("<", " ")


def aamva_text(ident: Identity) -> str:
    r"""An AAMVA-like driver-licence record (header, one ``DL`` subfile) for a PDF417 barcode.

    The header has the compliance indicator, separators, ``ANSI``, a fictional issuer number,
    version numbers and a subfile directory whose offset and length match the record.

    Example:
        >>> import numpy as np
        >>> from idseg.documents.synth.identity import random_identity
        >>> text = aamva_text(random_identity(np.random.default_rng(1)))
        >>> text[:4] == "@\n\x1e\r" and text[4:9] == "ANSI " and text.endswith("\r")
        True
    """
    given = _ascii(ident.given_names).split()
    digits = "".join(c for c in ident.document_number if c.isdigit()) or "0"
    elements = {
        "DAQ": ident.document_number,
        "DCS": _ascii(ident.surname),
        "DAC": given[0] if given else "NONE",
        "DAD": " ".join(given[1:]) or "NONE",
        "DBB": ident.birth_date.strftime("%m%d%Y"),
        "DBA": ident.expiry_date.strftime("%m%d%Y"),
        "DBD": ident.issue_date.strftime("%m%d%Y"),
        "DBC": {"M": "1", "F": "2"}.get(ident.sex, "9"),
        "DAG": f"{int(digits[-4:]) + 1} {_ascii(ident.place_of_birth)} AVE",
        "DAI": _ascii(ident.place_of_birth) or "UTOPIA",
        "DAJ": ident.issuing_state[:2],
        "DAK": f"{int(digits[-5:]):05d}0000",
        "DCF": f"{ident.document_number}{ident.issue_date:%Y%m%d}",
        "DCG": ident.issuing_state,
        "DDE": "N",
        "DDF": "N",
        "DDG": "N",
    }
    subfile = "DL" + "\n".join(k + v for k, v in elements.items()) + "\r"
    header = "@\n\x1e\rANSI 990000" + "10" + "00" + "01"
    offset = len(header) + 10
    return f"{header}DL{offset:04d}{len(subfile):04d}{subfile}"
