"""City app submission (城市APP，如 i深圳): camelCase JSON from the app's back end, GCJ-02 or WGS-84 point."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import NewAppeal, Urgency

AppealNo = f.formatted(r"ISZ\d{8}[0-9A-Z]{6,12}", "ISZ20260401K7Q2M9")
Category = f.mapped(f.APPEAL_TYPE_ENGLISH, "category")


class AppPoint(f.PartnerObject):
    """用户在地图上选的位置；APP 地图 SDK 默认给 GCJ-02。"""

    lng: f.Longitude = Field(description="经度")
    lat: f.Latitude = Field(description="纬度")
    coord_type: Literal["gcj02", "wgs84"] = Field("gcj02", alias="coordType", description="坐标系")

    def wgs84(self) -> tuple[float, float]:
        if self.coord_type == "gcj02":
            return f.gcj02_to_wgs84(self.lat, self.lng)
        return self.lat, self.lng


@register
class CityAppAppeal(ChannelPayload):
    """实名用户在 APP 上提交的诉求；userId 只用于 APP 自身，不进入本系统。"""

    channel_code: ClassVar[str] = "app"
    channel_name: ClassVar[str] = "城市APP（i深圳）"

    appeal_no: AppealNo = Field(alias="appealNo", description="APP 诉求单号")
    submit_time: f.Timestamp = Field(alias="submitTime", description="提交时间，带时区")
    user_id: f.ShortText | None = Field(None, alias="userId", description="APP 用户号（不保存）")
    real_name: f.PersonName | None = Field(None, alias="realName", description="实名认证姓名")
    id_card: f.IdNumber | None = Field(None, alias="idCard", description="身份证号")
    mobile: f.Phone = Field(description="绑定手机号")
    anonymous: f.Flag = Field(False, description="是否匿名（对承办单位隐藏身份）")
    category: Category = Field(description="诉求类型：consultation/help/complaint/report/suggestion")
    title: f.Title = Field("", description="标题")
    content: f.Content = Field(description="诉求内容")
    address: f.Address = Field("", description="事发地址")
    location: AppPoint | None = Field(None, description="事发位置坐标")
    image_urls: f.Attachments = Field(default_factory=list, alias="imageUrls", description="图片地址（https）")
    platform: Literal["ios", "android", "harmony"] | None = Field(None, description="客户端平台")
    app_version: f.ShortText | None = Field(None, alias="appVersion", description="APP 版本")

    def to_appeal(self) -> NewAppeal:
        lat, lng = self.location.wgs84() if self.location else (None, None)
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.appeal_no,
            appeal_type=self.category,
            urgency=Urgency.NORMAL,
            content=self.content,
            reported_at=self.submit_time,
            title=self.title,
            location=f.location(self.address, lat, lng),
            party=f.party(self.real_name, self.id_card, self.mobile),
            attachments=tuple(self.image_urls),
            anonymous=self.anonymous,
            channel_meta=f.meta(platform=self.platform, app_version=self.app_version,
                                coord_type=self.location.coord_type if self.location else None),
        )
