"""12345 hotline work order (12345热线工单): pinyin-abbreviated fields as the hotline system exports them."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import NewAppeal, Urgency

OrderNo = f.formatted(r"[A-Z]{2}\d{8}\d{6,12}", "SZ20260402000123")
OperatorNo = f.formatted(r"\d{4,8}", "100235")  # 坐席工号
AppealTypeLabel = f.mapped(f.APPEAL_TYPE_LABELS, "appeal type (诉求类型)")
UrgencyLabel = f.mapped(f.URGENCY_LABELS, "urgency (紧急程度)")


@register
class HotlineOrder(ChannelPayload):
    """坐席受理后推送的工单；来电人信息只进 Party。"""

    channel_code: ClassVar[str] = "hotline"
    channel_name: ClassVar[str] = "12345热线"

    order_no: OrderNo = Field(alias="gdbh", description="工单编号，城市代码+日期+流水号")
    called_at: f.Timestamp = Field(alias="ldsj", description="来电时间，带时区")
    caller_name: f.PersonName | None = Field(None, alias="ldrxm", description="来电人姓名")
    caller_phone: f.ContactPhone | None = Field(None, alias="lxdh", description="联系电话（手机或座机，座机带区号）")
    caller_id_number: f.IdNumber | None = Field(None, alias="zjhm", description="证件号码（身份证）")
    anonymous: f.Flag = Field(False, alias="sfnm", description="是否匿名")
    appeal_type: AppealTypeLabel = Field(alias="sqlx", description="诉求类型：咨询/求助/投诉/举报/建议")
    urgency: UrgencyLabel = Field(Urgency.NORMAL, alias="jjcd", description="紧急程度：急件/即办件/普通")
    title: f.Title = Field("", alias="gdbt", description="工单标题")
    content: f.Content = Field(alias="sqnr", description="诉求内容")
    address: f.Address = Field("", alias="fsdz", description="事发地址")
    operator_no: OperatorNo = Field(alias="zxgh", description="受理坐席工号")
    recording_no: f.ShortText | None = Field(None, alias="lybh", description="录音编号")
    attachments: f.Attachments = Field(default_factory=list, alias="fj", description="附件地址（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.order_no,
            appeal_type=self.appeal_type,
            urgency=self.urgency,
            content=self.content,
            reported_at=self.called_at,
            title=self.title,
            location=f.location(self.address),
            party=f.party(self.caller_name, self.caller_id_number, self.caller_phone),
            attachments=tuple(self.attachments),
            anonymous=self.anonymous,
            channel_meta=f.meta(operator_id=self.operator_no, recording_no=self.recording_no),
        )
