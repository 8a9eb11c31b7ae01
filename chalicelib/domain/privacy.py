"""Masking of personal data for staff views (stdlib only)."""
from __future__ import annotations

import re


def mask_id_number(value: str) -> str:
    """440305199001011234 -> 440305********1234 (region prefix and last four kept)."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """13812345678 -> 138****5678."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """张三丰 -> 张**: staff see the surname only unless the role allows more."""
    return value[:1] + "*" * (len(value) - 1) if value else ""


# Personal data typed into free text (content, address, a rating's comment, an error message):
# an ID number (18 or 15 digits), a mobile (optionally +86, with spaces or dashes) or a fixed
# line with its area code. Digits that touch other digits are not matched (an order number).
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_FIXED_LINE = re.compile(r"(?<!\d)0\d{2,3}[ -]?\d{7,8}(?!\d)")


def mask_free_text(text: str) -> str:
    """Mask ID numbers and phone numbers inside free text as the party fields are masked."""
    if not text:
        return text or ""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group()), text)
    text = _MOBILE.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group())), text)
    return _FIXED_LINE.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group())), text)


def mask_deep(value):
    """mask_free_text over every string inside lists and dicts (case-file event data)."""
    if isinstance(value, str):
        return mask_free_text(value)
    if isinstance(value, list):
        return [mask_deep(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    return value
