"""Grid event (网格事件): a grid worker's patrol finding with grid code and GPS point; no citizen party."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import NewAppeal, Urgency

EventNo = f.formatted(r"GE\d{8}\d{6,12}", "GE20260404000015")
GridCode = f.formatted(r"\d{15}", "440306005003012")  # 区6+街道3+社区3+网格3
GridmanId = f.formatted(r"[A-Z0-9]{4,20}", "WG0306512")
EventType = f.mapped(f.APPEAL_TYPE_LABELS, "event type (eventType)")
EVENT_LEVELS = {1: Urgency.NORMAL, 2: Urgency.IMMEDIATE, 3: Urgency.URGENT}  # 一般/较大/重大
EventLevel = f.mapped(EVENT_LEVELS, "event level (eventLevel)")


@register
class GridEvent(ChannelPayload):
    """网格员上报事件：网格编码、GPS 坐标（WGS-84/CGCS2000）、事件等级 1 一般/2 较大/3 重大。"""

    channel_code: ClassVar[str] = "grid"
    channel_name: ClassVar[str] = "网格事件"

    event_no: EventNo = Field(alias="eventNo", description="事件编号")
    grid_code: GridCode = Field(alias="gridCode", description="网格编码（15位）")
    gridman_id: GridmanId = Field(alias="gridmanId", description="网格员工号")
    report_time: f.Timestamp = Field(alias="reportTime", description="上报时间，带时区")
    event_type: EventType = Field(alias="eventType", description="事件类型：咨询/求助/投诉/举报/建议")
    event_level: EventLevel = Field(Urgency.NORMAL, alias="eventLevel", description="事件等级 1/2/3")
    description: f.Content = Field(description="事件描述")
    address: f.RequiredAddress = Field(description="事发地址")
    lng: f.Longitude = Field(description="经度（WGS-84）")
    lat: f.Latitude = Field(description="纬度（WGS-84）")
    photos: f.Attachments = Field(default_factory=list, description="现场照片（https）")
    handled_on_site: f.Flag = Field(False, alias="handledOnSite", description="是否已现场先行处置")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.event_no,
            appeal_type=self.event_type,
            urgency=self.event_level,
            content=self.description,
            reported_at=self.report_time,
            location=f.location(self.address, self.lat, self.lng, self.grid_code),
            attachments=tuple(self.photos),
            channel_meta=f.meta(operator_id=self.gridman_id, handled_on_site=self.handled_on_site),
        )
