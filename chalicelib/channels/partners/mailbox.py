"""Mayor's mailbox letter (市长信箱来信): a titled letter with a named writer and a letter number."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency

LetterNo = f.formatted(r"XX\d{8}\d{4,12}", "XX202604150012")
LETTER_TYPES = {**f.APPEAL_TYPE_LABELS, "意见": AppealType.SUGGESTION}
LetterType = f.mapped(LETTER_TYPES, "letter type (来信类型)")


@register
class MailboxLetter(ChannelPayload):
    """市长信箱实名来信：写信人姓名和手机必填，身份证号选填。"""

    channel_code: ClassVar[str] = "mailbox"
    channel_name: ClassVar[str] = "市长信箱"

    letter_no: LetterNo = Field(alias="letterNo", description="信件编号")
    mailbox_code: f.ShortText | None = Field(None, alias="mailboxCode", description="信箱代码（市长/区长信箱）")
    title: f.RequiredTitle = Field(description="信件标题")
    content: f.Content = Field(description="信件内容")
    write_time: f.Timestamp = Field(alias="writeTime", description="写信时间，带时区")
    letter_type: LetterType = Field(alias="letterType", description="来信类型：咨询/求助/投诉/举报/建议/意见")
    writer_name: f.PersonName = Field(alias="writerName", description="写信人姓名")
    writer_phone: f.Phone = Field(alias="writerPhone", description="写信人手机")
    writer_id_card: f.IdNumber | None = Field(None, alias="writerIdCard", description="写信人身份证号")
    event_address: f.Address = Field("", alias="eventAddress", description="事发地址")
    is_public: f.Flag = Field(False, alias="isPublic", description="是否同意公开")
    attachment_urls: f.Attachments = Field(default_factory=list, alias="attachmentUrls",
                                           description="附件地址（https）")

    def to_appeal(self) -> NewAppeal:
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.letter_no,
            appeal_type=self.letter_type,
            urgency=Urgency.NORMAL,
            content=self.content,
            reported_at=self.write_time,
            title=self.title,
            location=f.location(self.event_address),
            party=f.party(self.writer_name, self.writer_id_card, self.writer_phone),
            attachments=tuple(self.attachment_urls),
            channel_meta=f.meta(mailbox_code=self.mailbox_code, is_public=self.is_public),
        )
