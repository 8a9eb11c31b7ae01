"""The one personal-data scanner of the e2e and browser tests (issue 22, item 5).

Given the names, ID numbers and phones a run sent, it scans text blobs (captured logs, HTTP
response bodies, rendered pages' DOM, callback bodies, report files, public views) for each of
them in every form that discloses it:

  * a phone: its digits with or without separators (spaces, dashes, dots, brackets), with or
    without +86, full-width digits; and the digits a mask hides (138****5678 hides the middle
    four) next to their neighbours, i.e. the first seven or the last eight digits in a row;
  * an ID number: likewise whole, and its hidden middle (birth date and sequence, 440305********1234);
  * a name: whole (characters may be spaced out) and its given name when that has two
    characters or more (after a one- or two-character surname).

Each blob is also read decoded (JSON \\uXXXX escapes, URL percent-encoding, HTML entities,
NFKC), so an escaped body hides nothing. A hit names where, which kind and which form, never the
value (the report of a leak must not leak). What a blob may legitimately show (a staff member's
explicit unmask, with a reason) is for the caller to leave out, by name.

Values to look for also come from the text a run sent: `PiiScanner.from_text` picks the ID
numbers and phones typed into an appeal's content with the product's own patterns
(chalicelib/domain/privacy.py).
"""
from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import unquote_plus

from chalicelib.domain import privacy

_SEP = r"[\s\-.()（）]{0,2}"          # what may stand between two digits of a written number
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True)
class Hit:
    where: str        # the blob's name (a log file, "GET /public 200", "dom /track/...")
    kind: str         # name | id_number | phone
    form: str         # which form matched: whole, spaced, hidden-part, given-name, ...
    reading: str      # which reading of the blob: raw, json, url, html, nfkc
    offset: int
    context: str = ""  # the text around it, the hit itself shown as [hit] and every digit as #

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} ({self.form}, {self.reading} reading) at {self.offset}: {self.context}"


def _context(body: str, start: int, end: int, width: int = 40) -> str:
    before, after = body[max(0, start - width):start], body[end:end + width]
    return re.sub(r"\d", "#", before) + "[hit]" + re.sub(r"\d", "#", after)


def _digits_pattern(digits: str, bounded: bool = True) -> str:
    """The digits in a row, separators allowed between them (and, bounded, no digit touching
    either end: another number that happens to contain them is not this one)."""
    body = _SEP.join(re.escape(d) for d in digits)
    return r"(?<![0-9])" + body + r"(?![0-9])" if bounded else body


def readings(text: str) -> dict[str, str]:
    """The blob as written and as a reader would decode it."""
    out = {"raw": text}
    if "\\u" in text:
        out["json"] = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "%" in text or "+" in text:
        out["url"] = unquote_plus(text)
    if "&" in text:
        out["html"] = html.unescape(text)
    nfkc = unicodedata.normalize("NFKC", text)
    if nfkc != text:
        out["nfkc"] = nfkc
    return out


@dataclass
class PiiScanner:
    """The personal data a run sent, and the patterns that find it in any text."""

    names: set[str] = field(default_factory=set)
    id_numbers: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    def add(self, name: str | None = None, id_number: str | None = None, phone: str | None = None) -> None:
        if name and name.strip():
            self.names.add(name.strip())
        if id_number and id_number.strip():
            self.id_numbers.add(id_number.strip().upper())
        if phone and re.sub(r"\D", "", phone):
            self.phones.add(phone.strip())

    def add_text(self, text: str | None) -> None:
        """The ID numbers and phones typed into free text (content, address, a note)."""
        if not text:
            return
        for m in privacy._ID_NUMBER.finditer(text):
            self.add(id_number=m.group())
        for pattern in (privacy._MOBILE, privacy._FIXED_LINE):
            for m in pattern.finditer(text):
                self.add(phone=m.group())

    @classmethod
    def from_text(cls, *texts: str) -> "PiiScanner":
        s = cls()
        for t in texts:
            s.add_text(t)
        return s

    def __bool__(self) -> bool:
        return bool(self.names or self.id_numbers or self.phones)

    def patterns(self) -> list[tuple[str, str, re.Pattern]]:
        """(kind, form, pattern) for every value and every form that discloses it."""
        out: list[tuple[str, str, re.Pattern]] = []
        for phone in sorted(self.phones):
            digits = re.sub(r"\D", "", phone)
            if len(digits) == 13 and digits.startswith("86"):
                digits = digits[2:]
            if len(digits) < 7:              # no phone number (a refused value such as 12345, a service number)
                continue
            out.append(("phone", "whole", re.compile(_digits_pattern(digits))))
            if len(digits) >= 11:            # a mobile: the mask keeps 3 + 4, hides the middle 4
                # The parts as one run of digits: with separators, seven digits turn up in any date and time.
                for form, part in (("first-seven", digits[:7]), ("last-eight", digits[3:])):
                    out.append(("phone", form, re.compile(rf"(?<![0-9]){re.escape(part)}(?![0-9])")))
        for number in sorted(self.id_numbers):
            out.append(("id_number", "whole", re.compile(_digits_pattern(number), re.I)))
            hidden = number[6:-4]        # birth date and sequence: shown, they touch other digits
            if len(hidden) >= 5:
                out.append(("id_number", "hidden-part", re.compile(_digits_pattern(hidden, False), re.I)))
        for name in sorted(self.names):
            spaced = r"\s*".join(re.escape(c) for c in name)
            out.append(("name", "whole", re.compile(spaced)))
            given = name[2:] if name[:2] in privacy.SURNAMES and len(name) > 3 else name[1:]
            if len(given) >= 2:          # one character alone is any word's
                out.append(("name", "given-name", re.compile(r"\s*".join(re.escape(c) for c in given))))
        return out

    def scan(self, where: str, text: str | bytes | None) -> list[Hit]:
        """Every leak of the run's personal data in one blob (one hit per kind and form)."""
        if not text:
            return []
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        hits: dict[tuple[str, str], Hit] = {}
        pats = self.patterns()
        for reading, body in readings(text).items():
            for kind, form, pattern in pats:
                m = pattern.search(body)
                if m and (kind, form) not in hits:
                    context = _context(body, m.start(), m.end())
                    for k, _, p in pats:     # another value next to it is not shown either
                        if k == "name":
                            context = p.sub("[name]", context)
                    hits[(kind, form)] = Hit(where, kind, form, reading, m.start(), context)
        return list(hits.values())

    def scan_all(self, blobs: Iterable[tuple[str, str | bytes | None]]) -> list[Hit]:
        out: list[Hit] = []
        for where, text in blobs:
            out.extend(self.scan(where, text))
        return out


# The free-text fields of requests other than a channel's (staff actions, Open311 forms, ratings):
# where a person may type an ID number or a phone. Identifiers (ticket ids, tokens) are not read,
# so a hex id that happens to hold eleven digits is not taken for a phone.
FREE_TEXT_KEYS = frozenset({"note", "answer", "reason", "instruction", "comment", "comments", "description",
                            "address", "address_string", "content", "text", "title", "answer_text"})


def free_text(value, key: str | None = None) -> Iterable[str]:
    """The strings of a decoded body found under a free-text key (at any depth)."""
    if isinstance(value, str):
        if key in FREE_TEXT_KEYS:
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from free_text(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from free_text(v, key)


def sent_by_channel(channel: str, body: bytes | str) -> PiiScanner:
    """The personal data one channel request carries, as the channel's own adapter reads it: its
    party, and the ID numbers and phones typed into its content, title, address and notes."""
    from chalicelib.channels.base import parse_payload
    from chalicelib.channels.registry import payload_model

    s = PiiScanner()
    try:
        doc = json.loads(body)
        appeal = parse_payload(payload_model(channel), doc)
    except Exception:  # noqa: BLE001 - not JSON, or refused: a refused request is checked by its own test
        return s
    s.add(appeal.party.name, appeal.party.id_number, appeal.party.phone)
    for text in (appeal.content, appeal.title, appeal.location.address,
                 *(v for v in appeal.channel_meta.values() if isinstance(v, str))):
        s.add_text(text)
    return s


def merge(into: PiiScanner, other: PiiScanner) -> None:
    into.names |= other.names
    into.id_numbers |= other.id_numbers
    into.phones |= other.phones


def report(hits: list[Hit]) -> str:
    return "\n".join(str(h) for h in hits)
