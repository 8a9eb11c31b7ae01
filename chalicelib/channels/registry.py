"""Registry of channel payload models, one per partner channel (F-IN-1)."""
from __future__ import annotations

from chalicelib.channels.base import ChannelPayload
from chalicelib.domain.errors import NotFoundError

_MODELS: dict[str, type[ChannelPayload]] = {}


def register(model: type[ChannelPayload]) -> type[ChannelPayload]:
    """Class decorator: make a payload model reachable by its channel code."""
    _MODELS[model.channel_code] = model
    return model


def payload_model(code: str) -> type[ChannelPayload]:
    _load()
    try:
        return _MODELS[code]
    except KeyError:
        raise NotFoundError("no such channel; GET /channels lists them", field="channel",
                            code="unknown_channel") from None


def channel_codes() -> list[str]:
    _load()
    return sorted(_MODELS)


def _load() -> None:
    # Importing the package registers every adapter module once.
    import chalicelib.channels.partners  # noqa: F401
