"""QR-code scan feedback (扫码反映): a terse note from a code posted at a place or asset."""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency

FeedbackId = f.formatted(r"[0-9a-f]{32}", "3f9c0a7e5b1d4c2a8e6f0b9d7c5a3e1f")
PlaceCode = f.formatted(r"[A-Z0-9][A-Z0-9-]{3,40}", "QR-LH-MZ-B01")
TypeLabel = f.mapped(f.APPEAL_TYPE_LABELS, "type (t)")
Message = Annotated[str, StringConstraints(min_length=1, max_length=1000), f.Printable]


@register
class QrCodeFeedback(ChannelPayload):
    """扫码页面提交：码值标识地点/设施，放入渠道信息；地点名称作为地址；手机号选填。"""

    channel_code: ClassVar[str] = "qrcode"
    channel_name: ClassVar[str] = "扫码反映"

    feedback_id: FeedbackId = Field(alias="id", description="反馈编号（32位十六进制）")
    qr: PlaceCode = Field(description="码值：地点/设施编码")
    place: f.RequiredAddress = Field(description="码所在地点名称")
    msg: Message = Field(description="反映内容（简短）")
    ts: f.Timestamp = Field(description="提交时间，带时区")
    t: TypeLabel = Field(AppealType.COMPLAINT, description="类型，默认投诉")
    tel: f.Phone | None = Field(None, description="手机号（选填）")
    pics: Annotated[list[f.HttpsUrl], Field(max_length=9)] = Field(default_factory=list, description="图片（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.feedback_id,
            appeal_type=self.t,
            urgency=Urgency.NORMAL,
            content=self.msg,
            reported_at=self.ts,
            location=f.location(self.place),
            party=f.party(phone=self.tel),
            attachments=tuple(self.pics),
            channel_meta=f.meta(place_code=self.qr),
        )
