"""People's Daily leader message board post (人民网领导留言板): numeric tid, board types 建言/投诉/咨询/求助."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field, StrictInt

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency

BOARD_TYPES = {
    "建言": AppealType.SUGGESTION,
    "投诉": AppealType.COMPLAINT,
    "咨询": AppealType.CONSULTATION,
    "求助": AppealType.HELP,
}
BoardType = f.mapped(BOARD_TYPES, "message type (typeName)")


@register
class LeaderBoardMessage(ChannelPayload):
    """留言板转来的留言；网民昵称不接收，留言人实名信息（如有）只进 Party。"""

    channel_code: ClassVar[str] = "leader_board"
    channel_name: ClassVar[str] = "人民网领导留言板"

    tid: StrictInt = Field(gt=0, lt=10**12, description="留言编号（整数）")
    fid: StrictInt | None = Field(None, gt=0, lt=10**9, description="版块编号（地区）")
    title: f.RequiredTitle = Field(description="留言标题")
    content: f.Content = Field(description="留言内容")
    type_name: BoardType = Field(alias="typeName", description="留言类型：建言/投诉/咨询/求助")
    domain_name: f.ShortText | None = Field(None, alias="domainName", description="留言领域，如 城建、交通")
    target_leader: f.ShortText | None = Field(None, alias="targetLeader", description="留言对象（职务）")
    created_at: f.Timestamp = Field(alias="createdAt", description="留言时间，带时区")
    real_name: f.PersonName | None = Field(None, alias="realName", description="留言人实名")
    mobile: f.Phone | None = Field(None, description="留言人手机")
    address: f.Address = Field("", description="事发地址")
    images: f.Attachments = Field(default_factory=list, description="图片地址（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=str(self.tid),
            appeal_type=self.type_name,
            urgency=Urgency.NORMAL,
            content=self.content,
            reported_at=self.created_at,
            title=self.title,
            location=f.location(self.address),
            party=f.party(self.real_name, None, self.mobile),
            attachments=tuple(self.images),
            channel_meta=f.meta(forum_id=self.fid, domain=self.domain_name, target_leader=self.target_leader),
        )
