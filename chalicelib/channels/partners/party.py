"""Proactive discovery by party members (党员主动发现): a member's field report, no citizen party."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import NewAppeal, Urgency

ReportNo = f.formatted(r"DY\d{8}\d{6,12}", "DY20260423000007")
MemberNo = f.formatted(r"[0-9A-Z]{6,20}", "DY44030400123")  # 党员编号（工号性质）
BranchCode = f.formatted(r"[0-9A-Z]{6,24}", "440304003001")  # 党组织编码
Category = f.mapped(f.APPEAL_TYPE_LABELS, "category")
UrgencyLabel = f.mapped(f.URGENCY_LABELS, "urgency")


@register
class PartyMemberReport(ChannelPayload):
    """党员在“双报到”、巡河等活动中主动发现的问题；上报人按工作人员对待，不作当事人。"""

    channel_code: ClassVar[str] = "party"
    channel_name: ClassVar[str] = "党员主动发现"

    report_no: ReportNo = Field(alias="reportNo", description="上报编号")
    member_no: MemberNo = Field(alias="memberNo", description="党员编号")
    branch_code: BranchCode = Field(alias="branchCode", description="所在党组织编码")
    branch_name: f.ShortText | None = Field(None, alias="branchName", description="所在党组织名称")
    activity: f.ShortText | None = Field(None, description="活动，如 双报到、巡河")
    discovered_at: f.Timestamp = Field(alias="discoveredAt", description="发现时间，带时区")
    category: Category = Field(description="类型：咨询/求助/投诉/举报/建议")
    urgency: UrgencyLabel = Field(Urgency.NORMAL, description="紧急程度：急件/即办件/普通")
    content: f.Content = Field(description="问题描述")
    address: f.RequiredAddress = Field(description="发现地点")
    lng: f.Longitude | None = Field(None, description="经度（WGS-84）")
    lat: f.Latitude | None = Field(None, description="纬度（WGS-84）")
    photos: f.Attachments = Field(default_factory=list, description="照片（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.report_no,
            appeal_type=self.category,
            urgency=self.urgency,
            content=self.content,
            reported_at=self.discovered_at,
            location=f.location(self.address, self.lat, self.lng),
            attachments=tuple(self.photos),
            channel_meta=f.meta(operator_id=self.member_no, branch_code=self.branch_code,
                                branch_name=self.branch_name, activity=self.activity),
        )
