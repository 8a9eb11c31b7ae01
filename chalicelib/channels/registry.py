"""Registry of channel payload models, one per partner channel (F-IN-1)."""
from __future__ import annotations

import chalicelib.channels.partners  # noqa: F401 - importing the package registers every adapter
from chalicelib.channels.base import MODELS, ChannelPayload
from chalicelib.domain.errors import NotFoundError


def payload_model(code: str) -> type[ChannelPayload]:
    try:
        return MODELS[code]
    except KeyError:
        raise NotFoundError("no such channel; GET /channels lists them", field="channel",
                            code="unknown_channel") from None


def channel_codes() -> list[str]:
    return sorted(MODELS)
