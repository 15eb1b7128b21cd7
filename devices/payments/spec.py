"""The CUP POS ISO 8583 profile (iso8583-cup.md §1.4-§2) as a pyiso8583 spec.

Numeric fields are BCD: pyiso8583 sees them as binary (``data_enc: "b"``) fields whose
length counts nibbles, so the decoded value is the digit string itself. Variable numeric
fields are left-aligned with a trailing 0 pad nibble; fixed ones are right-aligned with a
leading 0, except DE22 which CUP left-aligns (``021`` goes out as ``02 10``). Track data
(z) rides in the same BCD form with ``=`` written as the nibble D; :func:`track_to_z` and
:func:`z_to_track` convert.

The MTI, bitmap and fields are all this module encodes: the TPDU and the 6-byte header
belong to :mod:`devices.payments.framing`.

Receive limits are the larger of the two sources' maxima (DE54 120, DE63 163). A
secondary bitmap or a field outside this table is a format error, which a host answers
with response code 30 (reference, "field limits on receive").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import iso8583

from devices.faults import TerminalDefect
from devices.masking import mask_pan
from devices.text import escape_controls

Spec = dict[str, dict[str, Any]]


class MessageFormatError(TerminalDefect, ValueError):
    """A message that does not follow the profile. ``field`` names the culprit when known."""

    def __init__(self, message: str, *, field: str | None = None, mti: str | None = None,
                 partial: dict[str, str] | None = None):
        super().__init__(message)
        self.field = field
        self.mti = mti
        #: Fields decoded before the error: enough for a receiver to echo DE11/DE41.
        self.partial = partial or {}


def _n(max_len: int, *, var: int = 0, right_aligned: bool = True, desc: str = "") -> dict[str, Any]:
    """BCD numeric: fixed (var=0) or LL/LLL (var=1/2 length bytes, BCD, counting digits)."""
    pad = {"left_pad": "0"} if right_aligned and var == 0 else {"right_pad": "0"}
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": var, "max_len": max_len,
        "len_count": "nibbles", "desc": desc, **pad,
    }


def _a(max_len: int, *, var: int = 0, enc: str = "ascii", desc: str = "") -> dict[str, Any]:
    """Text: fixed, or LL/LLL with a BCD length counting bytes."""
    return {
        "data_enc": enc, "len_enc": "bcd", "len_type": var, "max_len": max_len,
        "len_count": "bytes", "desc": desc,
    }


def _b(max_len: int, *, var: int = 0, desc: str = "") -> dict[str, Any]:
    """Raw bytes, shown by pyiso8583 as upper-case hex; LLL lengths count bytes."""
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": var, "max_len": max_len,
        "len_count": "bytes", "desc": desc,
    }


CUP_SPEC: Spec = {
    # No ISO header here: framing strips the TPDU and CUP's 6-byte header first.
    "h": _b(0, desc="Message header (handled by framing)"),
    "t": _b(2, desc="Message type indicator, 2 bytes BCD"),
    "p": _b(8, desc="Primary bitmap, 8 bytes binary"),
    "1": _b(8, desc="Secondary bitmap (never valid in this profile)"),
    "2": _n(19, var=1, desc="Primary account number"),
    "3": _n(6, desc="Processing code"),
    "4": _n(12, desc="Amount, fen"),
    "11": _n(6, desc="System trace audit number"),
    "12": _n(6, desc="Local time hhmmss"),
    "13": _n(4, desc="Local date MMDD"),
    "14": _n(4, desc="Expiry YYMM"),
    "15": _n(4, desc="Settlement date MMDD"),
    # CUP sends 3 significant digits left-aligned: "021" -> 02 10.
    "22": {**_n(3, desc="POS entry mode"), "left_pad": "", "right_pad": "0"},
    "23": _n(3, desc="Card sequence number"),
    "25": _n(2, desc="POS condition code"),
    "26": _n(2, desc="PIN capture code"),
    "32": _n(11, var=1, desc="Acquiring institution ID"),
    "35": _n(37, var=1, desc="Track 2 (z: '=' as D)"),
    "36": _n(104, var=2, desc="Track 3 (z: '=' as D)"),
    "37": _a(12, desc="Retrieval reference number"),
    "38": _a(6, desc="Authorisation code"),
    "39": _a(2, desc="Response code"),
    "41": _a(8, desc="Terminal ID"),
    "42": _a(15, desc="Merchant ID"),
    "44": _a(25, var=1, desc="Additional response data"),
    "48": _n(322, var=2, desc="Additional data - private (totals, batch records)"),
    "49": _a(3, desc="Currency code"),
    "52": _b(8, desc="PIN block (encrypted)"),
    "53": _n(16, desc="Security related control information"),
    "54": _a(120, var=2, desc="Additional amounts"),
    "55": _b(255, var=2, desc="ICC data"),
    "58": _b(100, var=2, desc="EP data"),
    # QR payments (iso8583-cup-qr.md §2.1): a run of ASCII TLV items, devices.payments.qr.
    "59": _a(999, var=2, desc="Reserved national: QR TLV (A2 terminal, A3 code, A4 voucher, Q1-Q3)"),
    "60": _n(30, var=2, desc="Reserved private: 60.1 type, 60.2 batch, 60.3 NMI, ..."),
    "61": _n(29, var=2, desc="Original message data"),
    "62": _b(512, var=2, desc="Reserved private (working keys, upload data)"),
    # Host texts are GB2312; gb18030 is its superset and reads the ASCII parts unchanged.
    "63": _a(163, var=2, enc="gb18030", desc="Reserved private (operator, card org, texts)"),
    "64": _b(8, desc="MAC"),
}

#: Data elements the profile defines; anything else in a bitmap is a format error.
FIELDS: frozenset[int] = frozenset(int(k) for k in CUP_SPEC if k.isdigit() and k != "1")
_ALLOWED_MASK = sum(1 << (64 - f) for f in FIELDS)


def encode_message(doc: dict[str, str]) -> bytes:
    """MTI + bitmap + fields. ``doc`` is a pyiso8583 dict (``"t"`` and field numbers as
    strings); it is copied, so the caller's dict keeps no library-added keys."""
    try:
        data, _ = iso8583.encode(dict(doc), CUP_SPEC)
    except iso8583.EncodeError as exc:
        raise MessageFormatError(
            f"cannot encode {doc.get('t', 'message')}: {exc.msg} in DE{exc.field}",
            field=exc.field, mti=doc.get("t"),
        ) from None
    return bytes(data)


def decode_message(body: bytes) -> dict[str, str]:
    """Decode MTI + bitmap + fields, refusing what the profile does not allow.

    The bitmap is checked before pyiso8583 sees it so that an unknown field or a
    secondary bitmap is reported as such, not as a KeyError from inside the library.
    """
    if len(body) < 10:
        raise MessageFormatError(
            f"message is {len(body)} bytes; an MTI and a bitmap alone take 10")
    mti = body[:2].hex()
    if not mti.isdigit():
        raise MessageFormatError(f"MTI {mti.upper()} is not BCD digits", field="t")
    bitmap = int.from_bytes(body[2:10], "big")
    stray = bitmap & ~_ALLOWED_MASK
    if stray:
        names = [str(64 - i) for i in range(64) if stray >> i & 1]
        what = "a secondary bitmap (bit 1)" if "1" in names else "DE" + ", DE".join(
            sorted(names, key=int))
        raise MessageFormatError(
            f"{mti}: bitmap names {what}, which the CUP POS profile does not define",
            field=names[0], mti=mti, partial={"t": mti})
    try:
        doc, _ = iso8583.decode(body, CUP_SPEC)
    except iso8583.DecodeError as exc:
        raise MessageFormatError(
            f"{mti}: {exc.msg} in DE{exc.field} at byte {exc.pos}", field=exc.field, mti=mti,
            partial={k: v for k, v in exc.doc_dec.items() if k != exc.field},
        ) from None
    return doc


def track_to_z(track: str) -> str:
    """ISO 7813 track text to the BCD nibble string DE35/36 carry (``=`` becomes D)."""
    return track.replace("=", "D")


def z_to_track(z: str) -> str:
    return z.upper().replace("D", "=")


def field60(doc: dict[str, str]) -> tuple[str, str, str, str]:
    """(60.1 type, 60.2 batch, 60.3 NMI code, the rest) of a message's DE60."""
    v = doc.get("60", "")
    return v[0:2], v[2:8], v[8:11], v[11:]


#: What each data element is, by field number: the profile's own descriptions, so a report's
#: table of an exchange names its fields as this module defines them.
FIELD_NAMES: dict[str, str] = {k: v["desc"] for k, v in CUP_SPEC.items() if k.isdigit()}

#: The message classes of the profile (MTI digit 2) and functions (digit 3), for headings.
_MTI_CLASSES = {"1": "authorisation", "2": "financial", "3": "file action (batch upload)",
                "4": "reversal", "5": "reconciliation (settlement)", "6": "administrative",
                "8": "network management"}
_MTI_FUNCTIONS = {"0": "request", "1": "response", "2": "advice", "3": "advice response"}


def mti_name(mti: str) -> str:
    """``0210`` -> ``financial response``; an MTI outside the profile names itself."""
    if len(mti) != 4 or mti[1] not in _MTI_CLASSES or mti[2] not in _MTI_FUNCTIONS:
        return "message"
    return f"{_MTI_CLASSES[mti[1]]} {_MTI_FUNCTIONS[mti[2]]}"


_HIDDEN = {"52": "***", "62": "***"}
#: Summaries that stand in for a field's value in a description (their own token form).
_SUMMARY = re.compile(r"<\d+ (?:digits|bytes)>")
#: A value that stands in a description as it is: no space, quote or backslash.
_PLAIN = re.compile(r'[^\s"\\]+')
#: A MAC as described: its hex in 4-byte groups (see ``_shown_mac``).
_MAC_FORM = re.compile(r"[0-9A-F]{8}(?: [0-9A-F]{8})+")
_HEX = re.compile(r"[0-9A-F]+")


def _de48_shown(doc: dict[str, str]) -> bool:
    """DE48 is shown only where it holds no card number: settlement totals (05x0) and the
    record count that ends a batch upload (60.3 202/207). A 201 upload's records each
    start with a PAN, and that PAN sits inside a long run of digits no scrubber can tell
    from an amount, so DE48 is otherwise summarised."""
    mti = doc.get("t", "")
    return mti[:2] == "05" or (mti[:2] == "03" and field60(doc)[2] in ("202", "207"))


def _shown_mac(value: str) -> str:
    """A MAC is 8 bytes of cipher output, never a card number, yet its hex can be 16 decimal
    digits that pass Luhn, which the last guard (``masking.scrub``) would mask as a PAN. In
    4-byte groups it holds no run of 13 digits, so request and response MACs read alike."""
    if len(value) % 8 or not _HEX.fullmatch(value):
        return value  # not the profile's 8 bytes: left to the guard like any other text
    return " ".join(value[i:i + 8] for i in range(0, len(value), 8))


def shown_value(key: str, value: str, doc: dict[str, str]) -> str:
    """``doc[key]`` as it may leave the process: PIN block and keys never shown, the PAN
    masked, tracks and chip data summarised, DE48 summarised where it carries PANs, a MAC
    grouped. DE53 is shown as is: its 16 digits end in 13 zeros by its structure, which the
    guard knows is no card number (devices/masking.py)."""
    if key in _HIDDEN:
        return _HIDDEN[key]
    if key == "48" and not _de48_shown(doc):
        return f"<{len(value)} digits>"
    if key == "2":
        return mask_pan(value)
    if key in ("35", "36"):
        return f"<{len(value)} digits>"
    if key == "55":
        return f"<{len(value) // 2} bytes>"
    if key in ("64", "128"):
        return _shown_mac(value)
    if key == "59":
        from devices.payments.qr import shown_de59  # qr builds on this module
        return escape_controls(shown_de59(value))
    return escape_controls(value)


def _token(key: str, shown: str) -> str:
    """A value as one token of a description: the forms ``shown_value`` makes stand as they
    are; anything else with a space, a quote or a backslash in it (a host text in DE63, say)
    is written as a JSON string, so :func:`parse_description` reads every field back exactly."""
    if _PLAIN.fullmatch(shown) or (shown[:1] == "<" and _SUMMARY.fullmatch(shown)) \
            or (key in ("64", "128") and _MAC_FORM.fullmatch(shown)):
        return shown
    return json.dumps(shown, ensure_ascii=False)


def describe(doc: dict[str, str]) -> str:
    """One line for a log: ``MTI N=value ...`` in field order, card data masked, PIN block
    and keys never shown (:func:`shown_value`); :func:`parse_description` reads it back."""
    parts = [escape_controls(doc.get("t", "????"))]
    for key in sorted((k for k in doc if k.isdigit()), key=int):
        parts.append(f"{key}={_token(key, shown_value(key, doc[key], doc))}")
    return " ".join(parts)


@dataclass(frozen=True)
class DescribedMessage:
    """One message of a description: its MTI and its fields as shown, in order;
    ``withheld`` names the fields whose value is not shown (secret or summarised)."""

    mti: str
    fields: tuple[tuple[str, str], ...]
    withheld: frozenset[str] = frozenset()

    @property
    def kind(self) -> str:
        """``request`` or ``response``, by the MTI's function digit (odd: a response)."""
        return "response" if len(self.mti) == 4 and self.mti[2] in "13579" else "request"


@dataclass(frozen=True)
class DescribedExchange:
    """A host log line read back: the request and the response as described (either may be
    missing: a format error has only the answer, a rejected line neither) and what else the
    line said (``proc 3``, the format error, the rejection)."""

    request: DescribedMessage | None
    response: DescribedMessage | None
    note: str = ""


# A value is a JSON string, a summary, a grouped MAC (whose groups cannot be taken for the
# next field: those start with "N="), or a run without spaces.
_FIELD_TOKEN = re.compile(
    r'(\d{1,3})=("(?:[^"\\]|\\.)*"|<\d+ (?:digits|bytes)>|[0-9A-F]{8}(?: [0-9A-F]{8})+|\S*)(?: |$)')
_MTI = re.compile(r"[0-9?]{4}")


def _read_message(text: str, pos: int) -> tuple[DescribedMessage | None, int]:
    """The message described at ``text[pos:]``, and where its description ends."""
    mti = _MTI.match(text, pos)
    if mti is None or (mti.end() < len(text) and text[mti.end()] != " "):
        return None, pos
    fields: list[tuple[str, str]] = []
    withheld: set[str] = set()
    pos = min(mti.end() + 1, len(text))
    while (field := _FIELD_TOKEN.match(text, pos)) is not None:
        key, raw = field.groups()
        if not fields or int(key) > int(fields[-1][0]):
            value = raw
            if raw.startswith('"'):
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw[1:-1]
            fields.append((key, value))
            if key in _HIDDEN or _SUMMARY.fullmatch(raw):
                withheld.add(key)
            pos = field.end()
        else:
            break  # fields come in order: anything else is the next part of the line
    return DescribedMessage(mti.group(), tuple(fields), frozenset(withheld)), pos


def parse_description(line: str) -> DescribedExchange | None:
    """A host log line (``describe(req) -> describe(resp) [proc N]``, ``format error: ... ->
    describe(resp)``, ``rejected: ...``) read back into its messages; None for any other line."""
    request, pos = _read_message(line, 0)
    if request is not None and line.startswith("-> ", pos):
        response, end = _read_message(line, pos + 3)
        if response is not None:
            return DescribedExchange(request, response, line[end:].strip(" []"))
    for prefix in ("format error: ", "rejected: "):
        if line.startswith(prefix):
            note, arrow, rest = line.rpartition(" -> ")
            response, end = _read_message(rest, 0) if arrow else (None, 0)
            if response is not None and end >= len(rest.rstrip()):
                return DescribedExchange(None, response, note)
            return DescribedExchange(None, None, line)
    if request is not None and pos >= len(line):
        return DescribedExchange(request, None)
    return None
