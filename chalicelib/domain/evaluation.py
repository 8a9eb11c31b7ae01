"""The outcome of one appeal (F-HD-1 reply, F-EV evaluation): the unit's answer, the citizen's rating,
how often the work was sent back.

Part of the Appeal aggregate (``Appeal.evaluation``), changed only through the appeal. Stored
(and shown to staff) flat in the appeal's body: ``reply`` and ``rating`` as JSON objects ({} when
none yet), ``redo_count`` a number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from chalicelib.domain.errors import ConflictError, ValidationError

RATING_DIMENSIONS = ("speed", "effect", "service", "reply_quality")  # 处置速度 处置效果 服务体验 反馈质量
UNSATISFIED_MAX = 2  # a score of 1 or 2 (of 5) is unsatisfied
DEFAULT_MIN_ANSWER_CHARS = 15  # a reply shorter than this says nothing of what was done (policy: handling)
MAX_REPLY_ATTACHMENTS = 20


def answer_length(text: str) -> int:
    """Characters of an answer that carry words: letters, digits and CJK, not punctuation or spaces."""
    return sum(1 for ch in text if ch.isalnum())


def check_answer(answer: str, min_answer_chars: int) -> None:
    if answer_length(answer) < min_answer_chars:
        raise ValidationError(f"the answer must say what was done, in at least {min_answer_chars} characters",
                              field="answer", code="answer_too_short")


def check_links(attachments: list[str] | tuple[str, ...] | None) -> list[str]:
    """A reply's attachments: at most MAX_REPLY_ATTACHMENTS https links."""
    links = list(attachments or ())
    if len(links) > MAX_REPLY_ATTACHMENTS:
        raise ValidationError(f"at most {MAX_REPLY_ATTACHMENTS} attachments", field="attachments")
    for url in links:
        if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2048 \
                or any(c.isspace() for c in url) or len(url) <= len("https://"):
            raise ValidationError("attachments must be https URLs", field="attachments")
    return links


def validate_rating(scores: dict[str, Any]) -> dict[str, int]:
    """F-EV-1: four dimensions, each a whole number 1..5."""
    out = {}
    for dim in RATING_DIMENSIONS:
        value = scores.get(dim)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise ValidationError(f"{dim} must be a whole number from 1 to 5", field=dim)
        out[dim] = value
    return out


def is_unsatisfied(scores: Mapping[str, int]) -> bool:
    """F-EV-2: a bad rating of the effect or of the reply's quality sends the work back."""
    return scores["effect"] <= UNSATISFIED_MAX or scores["reply_quality"] <= UNSATISFIED_MAX


@dataclass(frozen=True)
class Reply:
    """办结反馈: the lead unit's public answer, with https attachment links."""

    unit_id: str | None
    answer: str
    attachments: tuple[str, ...]
    at: datetime
    actor: str

    def to_dict(self) -> dict[str, Any]:
        return {"unit_id": self.unit_id, "answer": self.answer, "attachments": list(self.attachments),
                "at": self.at.isoformat(), "actor": self.actor}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Reply":
        return cls(d["unit_id"], d["answer"], tuple(d["attachments"]), datetime.fromisoformat(d["at"]), d["actor"])


_RATING_KEYS = ("comment", "at", "round")


@dataclass(frozen=True)
class Rating:
    """The citizen's rating of one handling round (a redo opens the next round)."""

    scores: Mapping[str, int] = field(hash=False)
    comment: str
    at: datetime
    round: int

    @property
    def unsatisfied(self) -> bool:
        return is_unsatisfied(self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {**self.scores, "comment": self.comment, "at": self.at.isoformat(), "round": self.round}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Rating":
        return cls({k: v for k, v in d.items() if k not in _RATING_KEYS}, d["comment"],
                   datetime.fromisoformat(d["at"]), int(d.get("round", 0)))


@dataclass
class Evaluation:
    reply: Reply | None = None
    rating: Rating | None = None
    redo_count: int = 0

    def rate(self, scores: Mapping[str, int], comment: str, at: datetime, round_: int) -> Rating:
        """Once per handling round."""
        if self.rating is not None and self.rating.round == round_:
            raise ConflictError("this answer was already rated", field="rating", code="already_rated")
        self.rating = Rating(dict(scores), comment, at, round_)
        return self.rating

    # --- the stored form: flat in the appeal's body --------------------------------------------

    def to_fields(self) -> dict[str, Any]:
        return {"reply": self.reply.to_dict() if self.reply else {},
                "rating": self.rating.to_dict() if self.rating else {},
                "redo_count": self.redo_count}

    @classmethod
    def from_fields(cls, body: Mapping[str, Any]) -> "Evaluation":
        reply, rating = body.get("reply"), body.get("rating")
        return cls(Reply.from_dict(reply) if reply else None, Rating.from_dict(rating) if rating else None,
                   int(body.get("redo_count", 0)))


FIELDS = ("reply", "rating", "redo_count")
