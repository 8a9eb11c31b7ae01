"""WeChat mini-program report (微信小程序随手拍): openid-keyed submission with wx.chooseLocation (GCJ-02)."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, StrictInt

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import NewAppeal, Urgency

SerialNo = f.formatted(r"WX\d{14}\d{4,12}", "WX202604051905000017")
OpenId = f.formatted(r"[A-Za-z0-9_-]{28}", "oU7xQ5Jm1y0bVv3kZc9PqRtS2wEa")
TypeName = f.mapped(f.APPEAL_TYPE_LABELS, "appeal type (typeName)")


class PhoneInfo(f.PartnerObject):
    """getPhoneNumber 解密后的手机号。"""

    pure_phone_number: f.Phone = Field(alias="purePhoneNumber", description="不带区号的手机号")
    country_code: Literal["86"] = Field("86", alias="countryCode", description="国家码，仅支持 86")


class ChosenLocation(f.PartnerObject):
    """wx.chooseLocation 的返回：名称、地址、GCJ-02 坐标。"""

    name: f.Address = Field("", description="地点名称")
    address: f.Address = Field("", description="详细地址")
    latitude: f.Latitude = Field(description="纬度（GCJ-02）")
    longitude: f.Longitude = Field(description="经度（GCJ-02）")


@register
class WeChatReport(ChannelPayload):
    """小程序提交；openid 是用户在本小程序下的标识，视为个人信息，不保存。"""

    channel_code: ClassVar[str] = "wechat"
    channel_name: ClassVar[str] = "微信小程序"

    serial_no: SerialNo = Field(alias="serialNo", description="提交流水号")
    openid: OpenId = Field(description="小程序用户 openid（不保存）")
    create_time: f.Timestamp = Field(alias="createTime", description="提交时间，带时区")
    type_name: TypeName = Field(alias="typeName", description="诉求类型：咨询/求助/投诉/举报/建议")
    content: f.Content = Field(description="诉求内容")
    phone_info: PhoneInfo | None = Field(None, alias="phoneInfo", description="授权手机号")
    location: ChosenLocation | None = Field(None, description="所选位置")
    pics: f.Attachments = Field(default_factory=list, description="图片地址（https）")
    is_anonymous: f.Flag = Field(False, alias="isAnonymous", description="是否匿名")
    scene: StrictInt | None = Field(None, ge=1000, le=9999, description="小程序场景值")

    def to_appeal(self) -> NewAppeal:
        loc = self.location
        if loc:
            lat, lng = f.gcj02_to_wgs84(loc.latitude, loc.longitude)
            address = loc.address if loc.name in loc.address else f"{loc.address}{loc.name}"
            where = f.location(address, lat, lng)
        else:
            where = f.location("")
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.serial_no,
            appeal_type=self.type_name,
            urgency=Urgency.NORMAL,
            content=self.content,
            reported_at=self.create_time,
            location=where,
            party=f.party(phone=self.phone_info.pure_phone_number if self.phone_info else None),
            attachments=tuple(self.pics),
            anonymous=self.is_anonymous,
            channel_meta=f.meta(scene=self.scene, coord_type="gcj02" if loc else None),
        )
