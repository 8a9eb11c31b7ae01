"""110 non-police incident transfer (110非警务警情转办): the 接警单 as the police system hands it over."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency
from chalicelib.domain.errors import ValidationError

IncidentNo = f.formatted(r"J\d{6}\d{8}\d{4,12}", "J440300202604020123")
UnitCode = f.formatted(r"\d{12}", "440304000000")  # 接警单位机构代码
INCIDENT_KINDS = {
    "01": AppealType.HELP,          # 求助
    "02": AppealType.COMPLAINT,     # 投诉
    "03": AppealType.REPORT,        # 举报
    "04": AppealType.CONSULTATION,  # 咨询
    "05": AppealType.SUGGESTION,    # 建议
}
IncidentKind = f.mapped(INCIDENT_KINDS, "incident kind (jqlb)")


@register
class PoliceTransfer(ChannelPayload):
    """接警单转办：报警人信息只进 Party；转办时间与接警单位作为渠道信息保留。"""

    channel_code: ClassVar[str] = "police"
    channel_name: ClassVar[str] = "110非警务警情转办"

    incident_no: IncidentNo = Field(alias="jjdbh", description="接警单编号")
    called_at: f.Timestamp = Field(alias="bjsj", description="报警时间，带时区")
    transferred_at: f.Timestamp = Field(alias="transferredAt", description="转办时间，带时区")
    caller_name: f.PersonName | None = Field(None, alias="bjrxm", description="报警人姓名")
    caller_phone: f.ContactPhone = Field(alias="bjdh", description="报警电话（手机或座机，座机带区号）")
    caller_id_number: f.IdNumber | None = Field(None, alias="bjrzjhm", description="报警人证件号码")
    content: f.Content = Field(alias="bjnr", description="报警内容")
    address: f.Address = Field("", alias="sfdz", description="事发地址")
    lng: f.Longitude | None = Field(None, alias="jd", description="经度（WGS-84）")
    lat: f.Latitude | None = Field(None, alias="wd", description="纬度（WGS-84）")
    kind: IncidentKind = Field(alias="jqlb", description="警情类别：01求助/02投诉/03举报/04咨询/05建议")
    urgent: f.Flag = Field(False, alias="sfjj", description="是否紧急")
    unit_code: UnitCode = Field(alias="jjdw", description="接警单位代码")

    def to_appeal(self) -> NewAppeal:
        if self.transferred_at < self.called_at:
            raise ValidationError("transferredAt: transferred before the call was received", field="transferredAt")
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.incident_no,
            appeal_type=self.kind,
            urgency=Urgency.URGENT if self.urgent else Urgency.NORMAL,
            content=self.content,
            reported_at=self.called_at,
            location=f.location(self.address, self.lat, self.lng, lat_field="wd", lng_field="jd"),
            party=f.party(self.caller_name, self.caller_id_number, self.caller_phone),
            channel_meta=f.meta(police_unit=self.unit_code, transferred_at=self.transferred_at.isoformat()),
        )
