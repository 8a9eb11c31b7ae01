"""What every channel adapter provides: its own payload model, mapped to one NewAppeal."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError as PydanticValidationError

from chalicelib.domain.appeal import NewAppeal
from chalicelib.domain.errors import ValidationError


class ChannelPayload(BaseModel):
    """Base of every partner payload model; subclasses declare the partner's own field names."""

    # Only the partner's own field names are accepted (validate_by_name off).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_by_alias=True,
                              validate_by_name=False)

    channel_code: ClassVar[str]
    channel_name: ClassVar[str]  # the Chinese name shown to staff, e.g. 12345热线

    def to_appeal(self) -> NewAppeal:  # pragma: no cover - every subclass implements it
        raise NotImplementedError


def parse_payload(model: type[ChannelPayload], body: Any, context: dict[str, Any] | None = None) -> NewAppeal:
    """Validate a decoded JSON body against the channel's model; errors name the first bad field.
    `context` reaches the field validators (fields.RECEIVED_AT: times are checked against receipt)."""
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    try:
        payload = model.model_validate(body, context=context)
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        raise ValidationError(f"{loc}: {err['msg']}", field=loc) from None
    return payload.to_appeal()


# Every partner's payload model by its channel code; chalicelib.channels.registry reads it after
# importing the partners package (each adapter registers itself with @register).
MODELS: dict[str, type[ChannelPayload]] = {}


def register(model: type[ChannelPayload]) -> type[ChannelPayload]:
    """Class decorator: make a payload model reachable by its channel code."""
    MODELS[model.channel_code] = model
    return model
