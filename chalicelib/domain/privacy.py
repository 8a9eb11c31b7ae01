"""Masking of personal data for staff views (stdlib only)."""
from __future__ import annotations


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
