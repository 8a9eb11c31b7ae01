"""Deputies' and CPPCC members' channel (人大代表/政协委员建议通道): a numbered proposal with deputy info."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency

ProposalNo = f.formatted(r"(RD|ZX)\d{4}-\d{4,12}", "RD2026-0123")  # RD 人大, ZX 政协
PROPOSAL_TYPES = {
    "suggestion": AppealType.SUGGESTION,  # 建议
    "opinion": AppealType.SUGGESTION,     # 意见
    "criticism": AppealType.COMPLAINT,    # 批评
}
ProposalType = f.mapped(PROPOSAL_TYPES, "proposal type (type)")
ProposalUrgency = f.mapped(f.URGENCY_ENGLISH, "urgency")


class Deputy(f.PartnerObject):
    """提出建议的代表/委员：姓名、手机为个人信息（只进 Party），身份、层级、代表团为渠道信息。"""

    name: f.PersonName = Field(description="代表/委员姓名")
    mobile: f.Phone | None = Field(None, description="联系手机")
    role: Literal["npc", "cppcc"] = Field(description="npc 人大代表 / cppcc 政协委员")
    level: Literal["national", "province", "city", "district"] = Field(description="层级")
    delegation: f.ShortText | None = Field(None, description="代表团/界别")


@register
class DeputyProposal(ChannelPayload):
    """代表建议、批评和意见；类型 suggestion/opinion 记为建议，criticism 记为投诉。"""

    channel_code: ClassVar[str] = "deputy"
    channel_name: ClassVar[str] = "人大代表/政协委员建议通道"

    proposal_no: ProposalNo = Field(alias="proposalNo", description="建议编号")
    session: f.ShortText | None = Field(None, description="届次，如 七届五次会议")
    title: f.RequiredTitle = Field(description="建议标题")
    content: f.Content = Field(description="建议内容")
    type: ProposalType = Field(description="suggestion 建议 / opinion 意见 / criticism 批评")
    urgency: ProposalUrgency = Field(Urgency.NORMAL, description="urgent/immediate/normal")
    submitted_at: f.Timestamp = Field(alias="submittedAt", description="提交时间，带时区")
    deputy: Deputy = Field(description="代表/委员信息")
    address: f.Address = Field("", description="涉及地点")
    attachments: f.Attachments = Field(default_factory=list, description="附件地址（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.proposal_no,
            appeal_type=self.type,
            urgency=self.urgency,
            content=self.content,
            reported_at=self.submitted_at,
            title=self.title,
            location=f.location(self.address),
            party=f.party(self.deputy.name, None, self.deputy.mobile),
            attachments=tuple(self.attachments),
            channel_meta=f.meta(proposal_no=self.proposal_no, session=self.session,
                                deputy_role=self.deputy.role, deputy_level=self.deputy.level,
                                delegation=self.deputy.delegation),
        )
