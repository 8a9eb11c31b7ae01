"""Partner payload models, one module per channel; importing this package registers them all."""
from chalicelib.channels.partners import (  # noqa: F401
    app,
    deputy,
    grid,
    hotline,
    leader_board,
    mailbox,
    mediation,
    party,
    police,
    qrcode,
    web,
    wechat,
)
