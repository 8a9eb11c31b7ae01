"""Dispute mediation (矛盾纠纷多元化解平台): a case that mediation could not settle and that needs a
government department, transferred to 12345 with the mediation committee's findings."""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from chalicelib.channels import fields as f
from chalicelib.channels.base import ChannelPayload, register
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency
from chalicelib.domain.errors import ValidationError

CaseNo = f.formatted(r"TJ\d{6}-\d{4}-\d{4,12}", "TJ440304-2026-000123")   # 调解案件编号
OrgCode = f.formatted(r"[0-9A-HJ-NPQRTUWXY]{18}", "12440304MB2C01234X")    # 统一社会信用代码
DISPUTE_TYPES = {
    "neighbour": "邻里纠纷", "property": "物业纠纷", "labour": "劳资纠纷", "family": "婚姻家庭纠纷",
    "consumer": "消费纠纷", "tenancy": "租赁纠纷", "land": "土地山林纠纷", "other": "其他纠纷",
}
REQUEST_KINDS = {"help": AppealType.HELP, "complaint": AppealType.COMPLAINT, "report": AppealType.REPORT}
RequestKind = f.mapped(REQUEST_KINDS, "request kind (requestKind)")
MAX_FINDINGS = 1000
Findings = Annotated[str, StringConstraints(max_length=MAX_FINDINGS), f.Printable]


class Mediator(f.PartnerObject):
    """The mediation committee that held the case: an organisation, never a person's data."""

    org: f.ShortText = Field(description="调解组织名称，如 园岭街道人民调解委员会")
    org_code: OrgCode = Field(alias="orgCode", description="调解组织统一社会信用代码")


class Applicant(f.PartnerObject):
    """申请人：姓名、手机、证件号码为个人信息，只进 Party。"""

    name: f.PersonName = Field(description="申请人姓名")
    mobile: f.Phone = Field(description="申请人手机")
    id_number: f.IdNumber | None = Field(None, alias="idNumber", description="申请人身份证号")


@register
class MediationTransfer(ChannelPayload):
    """调解不成转办：纠纷概要为诉求内容；对方当事人只记类别（个人/单位），不收姓名。"""

    channel_code: ClassVar[str] = "mediation"
    channel_name: ClassVar[str] = "矛盾纠纷调解转办"

    case_no: CaseNo = Field(alias="caseNo", description="调解案件编号")
    registered_at: f.Timestamp = Field(alias="registeredAt", description="调解登记时间，带时区")
    transferred_at: f.Timestamp = Field(alias="transferredAt", description="转办时间，带时区")
    dispute_type: Literal[tuple(DISPUTE_TYPES)] = Field(alias="disputeType",  # type: ignore[valid-type]
                                                        description="纠纷类型：" + "/".join(
                                                            f"{k} {v}" for k, v in DISPUTE_TYPES.items()))
    request_kind: RequestKind = Field(AppealType.COMPLAINT, alias="requestKind",
                                      description="help 求助 / complaint 投诉 / report 举报")
    summary: f.Content = Field(description="纠纷概要与诉求")
    findings: Findings = Field("", description="调解经过与未能化解的原因")
    respondent_kind: Literal["person", "organisation"] = Field(alias="respondentKind",
                                                              description="对方当事人类别：个人/单位")
    applicant: Applicant = Field(description="申请人")
    mediator: Mediator = Field(description="调解组织")
    address: f.Address = Field("", description="纠纷发生地")
    urgent: f.Flag = Field(False, description="是否可能激化（急件）")
    attachments: f.Attachments = Field(default_factory=list, description="调解笔录等附件（https）")

    def to_appeal(self) -> NewAppeal:
        if self.transferred_at < self.registered_at:
            raise ValidationError("transferredAt: transferred before the case was registered", field="transferredAt")
        return NewAppeal(
            channel=self.channel_code,
            ticket_id=self.case_no,
            appeal_type=self.request_kind,
            urgency=Urgency.URGENT if self.urgent else Urgency.NORMAL,
            content=self.summary,
            reported_at=self.registered_at,
            title=f"{DISPUTE_TYPES[self.dispute_type]}调解未果转办",
            location=f.location(self.address),
            party=f.party(self.applicant.name, self.applicant.id_number, self.applicant.mobile),
            attachments=tuple(self.attachments),
            channel_meta=f.meta(dispute_type=self.dispute_type, respondent_kind=self.respondent_kind,
                                mediator=self.mediator.org, mediator_code=self.mediator.org_code,
                                mediation_findings=self.findings or None,
                                transferred_at=self.transferred_at.isoformat()),
        )
