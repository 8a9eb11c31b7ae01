"""Web/PC portal form (网站/PC端): snake_case form fields, type given as pinyin initials (zx/qz/ts/jb/jy)."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency

SubmissionNo = f.formatted(r"WEB\d{8}\d{6,12}", "WEB20260404000031")
KIND_CODES = {
    "zx": AppealType.CONSULTATION,  # 咨询
    "qz": AppealType.HELP,          # 求助
    "ts": AppealType.COMPLAINT,     # 投诉
    "jb": AppealType.REPORT,        # 举报
    "jy": AppealType.SUGGESTION,    # 建议
}
Kind = f.mapped(KIND_CODES, "kind (诉求类型代码)")


@register
class WebSubmission(ChannelPayload):
    """门户网站表单：主题、正文、联系人；手机号经短信验证，必填。"""

    channel_code: ClassVar[str] = "web"
    channel_name: ClassVar[str] = "网站/PC端"

    submission_no: SubmissionNo = Field(description="网上诉求编号")
    submitted_at: f.Timestamp = Field(description="提交时间，带时区")
    kind: Kind = Field(description="诉求类型代码：zx 咨询/qz 求助/ts 投诉/jb 举报/jy 建议")
    subject: f.RequiredTitle = Field(description="主题")
    body: f.Content = Field(description="诉求内容")
    address: f.Address = Field("", description="事发地址")
    name: f.PersonName | None = Field(None, description="姓名")
    id_card: f.IdNumber | None = Field(None, description="身份证号")
    mobile: f.Phone = Field(description="手机号（短信验证）")
    anonymous: f.Flag = Field(False, description="是否匿名")
    make_public: f.Flag = Field(False, description="是否同意在网站公开")
    attachments: f.Attachments = Field(default_factory=list, description="附件地址（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.submission_no,
            appeal_type=self.kind,
            urgency=Urgency.NORMAL,
            content=self.body,
            reported_at=self.submitted_at,
            title=self.subject,
            location=f.location(self.address),
            party=f.party(self.name, self.id_card, self.mobile),
            attachments=tuple(self.attachments),
            anonymous=self.anonymous,
            channel_meta=f.meta(make_public=self.make_public),
        )
