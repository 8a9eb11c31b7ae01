"""Synthetic, valid partner payloads for every channel (local demo feeder, benchmarks, tests)."""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from chalicelib.channels import fields as f
from chalicelib.channels.partners import deputy, grid, leader_board, mediation, police, web
from chalicelib.domain.appeal import AppealType, Urgency

CST = timezone(timedelta(hours=8))
BASE_TIME = datetime(2026, 4, 1, 8, 0, tzinfo=CST)

# Shenzhen district codes (行政区划代码) used as the first six digits of synthetic ID numbers.
SHENZHEN_DISTRICTS = ("440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310", "440311")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许邓冯韩曹曾彭萧蔡潘田董袁"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志红玉兰文辉鹏宇浩然子涵欣怡嘉俊晓东"
_MOBILE_PREFIXES = ("130", "131", "135", "136", "137", "138", "139", "150", "158", "177", "186", "188", "199")
# Rough Shenzhen box (WGS-84) for synthetic points.
_LAT, _LNG = (22.48, 22.80), (113.80, 114.40)


def synthetic_id_number(rng: random.Random) -> str:
    """A made-up Shenzhen resident ID number with a valid birth date and GB 11643 check digit."""
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 56))
    body = f"{rng.choice(SHENZHEN_DISTRICTS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + f.id_check_digit(body)


def synthetic_phone(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def synthetic_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _point(rng: random.Random) -> tuple[float, float]:
    return round(rng.uniform(*_LAT), 6), round(rng.uniform(*_LNG), 6)


def _when(rng: random.Random, seq: int) -> datetime:
    # seq may be large (the demo feeder starts from the epoch second): wrap within about a year.
    return BASE_TIME + timedelta(minutes=3 * (seq % 170_000), seconds=rng.randrange(3600))


def _urgency(rng: random.Random) -> Urgency:
    return rng.choices((Urgency.URGENT, Urgency.IMMEDIATE, Urgency.NORMAL), weights=(1, 2, 7))[0]


def _urls(rng: random.Random, folder: str, seq: int, most: int = 3) -> list[str]:
    return [f"https://files.example.com/{folder}/{seq}/{i}.jpg" for i in range(rng.randint(0, most))]


def _title(text: str) -> str:
    head = text.strip()
    for stop in "。！？；，,!?;":
        head = head.split(stop)[0] or head
    return head[:30]


def _encode(table: Mapping[Any, AppealType | Urgency], value: AppealType | Urgency, fallback: Any) -> Any:
    """The partner's code for a domain value (first code in its table), or a fallback it can express."""
    return next((code for code, v in table.items() if v == value), fallback)


def _hotline(rng, seq, text, address, kind, at):
    payload = {
        "gdbh": f"SZ{at:%Y%m%d}{seq:06d}", "ldsj": at.isoformat(), "sqlx": kind.value,
        "jjcd": _urgency(rng).value, "sqnr": text, "fsdz": address,
        "zxgh": f"{rng.randrange(100000, 999999)}", "lybh": f"LY{at:%Y%m%d}{seq:06d}",
    }
    if rng.random() < 0.15:
        payload["sfnm"] = True
    else:
        payload["lxdh"] = synthetic_phone(rng)
        if rng.random() < 0.8:
            payload.update(ldrxm=synthetic_name(rng), zjhm=synthetic_id_number(rng))
    if rng.random() < 0.5:
        payload["gdbt"] = _title(text)
    return payload


def _app(rng, seq, text, address, kind, at):
    lat, lng = _point(rng)
    glat, glng = f.wgs84_to_gcj02(lat, lng)
    payload = {
        "appealNo": f"ISZ{at:%Y%m%d}{seq:06d}", "submitTime": at.isoformat(),
        "userId": f"{rng.randrange(10**9, 10**10)}", "mobile": synthetic_phone(rng),
        "category": _encode(f.APPEAL_TYPE_ENGLISH, kind, "complaint"), "title": _title(text),
        "content": text, "address": address,
        "location": {"lng": round(glng, 6), "lat": round(glat, 6), "coordType": "gcj02"},
        "imageUrls": _urls(rng, "app", seq), "platform": rng.choice(["ios", "android", "harmony"]),
        "appVersion": f"4.{rng.randrange(10)}.{rng.randrange(10)}",
    }
    if rng.random() < 0.9:
        payload.update(realName=synthetic_name(rng), idCard=synthetic_id_number(rng))
    payload["anonymous"] = rng.random() < 0.1
    return payload


def _wechat(rng, seq, text, address, kind, at):
    lat, lng = f.wgs84_to_gcj02(*_point(rng))
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    payload = {
        "serialNo": f"WX{at:%Y%m%d%H%M%S}{seq:04d}", "openid": "o" + "".join(rng.choice(alphabet) for _ in range(27)),
        "createTime": at.isoformat(), "typeName": kind.value, "content": text,
        "pics": _urls(rng, "wx", seq), "scene": rng.choice([1001, 1007, 1011, 1047, 1089]),
    }
    if address:
        payload["location"] = {"name": "", "address": address, "latitude": round(lat, 6), "longitude": round(lng, 6)}
    if rng.random() < 0.8:
        payload["phoneInfo"] = {"purePhoneNumber": synthetic_phone(rng), "countryCode": "86"}
    return payload


def _web(rng, seq, text, address, kind, at):
    return {
        "submission_no": f"WEB{at:%Y%m%d}{seq:06d}", "submitted_at": at.isoformat(),
        "kind": _encode(web.KIND_CODES, kind, "ts"), "subject": _title(text), "body": text,
        "address": address, "name": synthetic_name(rng), "id_card": synthetic_id_number(rng),
        "mobile": synthetic_phone(rng), "make_public": rng.random() < 0.5,
        "attachments": _urls(rng, "web", seq),
    }


def _mailbox(rng, seq, text, address, kind, at):
    payload = {
        "letterNo": f"XX{at:%Y%m%d}{seq:04d}", "mailboxCode": rng.choice(["SZ-MAYOR", "FT-DISTRICT", "NS-DISTRICT"]),
        "title": _title(text), "content": text, "writeTime": at.isoformat(), "letterType": kind.value,
        "writerName": synthetic_name(rng), "writerPhone": synthetic_phone(rng), "eventAddress": address,
        "isPublic": rng.random() < 0.3, "attachmentUrls": _urls(rng, "mailbox", seq, 2),
    }
    if rng.random() < 0.5:
        payload["writerIdCard"] = synthetic_id_number(rng)
    return payload


def _leader_board(rng, seq, text, address, kind, at):
    payload = {
        "tid": 17_000_000 + seq, "fid": 4403, "title": _title(text), "content": text,
        "typeName": _encode(leader_board.BOARD_TYPES, kind, "投诉"),
        "domainName": rng.choice(["城建", "交通", "环保", "教育", "治安", "三农", "医疗"]),
        "targetLeader": rng.choice(["深圳市委书记", "深圳市市长"]), "createdAt": at.isoformat(),
        "address": address, "images": _urls(rng, "board", seq, 2),
    }
    if rng.random() < 0.5:
        payload.update(realName=synthetic_name(rng), mobile=synthetic_phone(rng))
    return payload


def _grid_code(rng: random.Random) -> str:
    return f"{rng.choice(SHENZHEN_DISTRICTS)}{rng.randint(1, 12):03d}{rng.randint(1, 30):03d}{rng.randint(1, 40):03d}"


def _grid(rng, seq, text, address, kind, at):
    lat, lng = _point(rng)
    return {
        "eventNo": f"GE{at:%Y%m%d}{seq:06d}", "gridCode": _grid_code(rng),
        "gridmanId": f"WG{rng.randrange(10**6, 10**7)}", "reportTime": at.isoformat(),
        "eventType": kind.value, "eventLevel": rng.choice(list(grid.EVENT_LEVELS)), "description": text,
        "address": address or "深圳市", "lng": lng, "lat": lat, "photos": _urls(rng, "grid", seq),
        "handledOnSite": rng.random() < 0.2,
    }


def _police(rng, seq, text, address, kind, at):
    lat, lng = _point(rng)
    payload = {
        "jjdbh": f"J440300{at:%Y%m%d}{seq:06d}", "bjsj": at.isoformat(),
        "transferredAt": (at + timedelta(minutes=rng.randint(5, 90))).isoformat(),
        "bjdh": synthetic_phone(rng), "bjnr": text, "sfdz": address, "jd": lng, "wd": lat,
        "jqlb": _encode(police.INCIDENT_KINDS, kind, "01"), "sfjj": rng.random() < 0.1,
        "jjdw": f"{rng.choice(SHENZHEN_DISTRICTS)}000000",
    }
    if rng.random() < 0.6:
        payload.update(bjrxm=synthetic_name(rng), bjrzjhm=synthetic_id_number(rng))
    return payload


def _deputy(rng, seq, text, address, kind, at):
    role = rng.choice(["npc", "cppcc"])
    return {
        "proposalNo": f"{'RD' if role == 'npc' else 'ZX'}{at:%Y}-{seq:04d}", "session": "七届五次会议",
        "title": _title(text), "content": text, "type": _encode(deputy.PROPOSAL_TYPES, kind, "suggestion"),
        "urgency": rng.choice(list(f.URGENCY_ENGLISH)), "submittedAt": at.isoformat(),
        "deputy": {"name": synthetic_name(rng), "mobile": synthetic_phone(rng), "role": role,
                   "level": rng.choice(["city", "district"]),
                   "delegation": rng.choice(["福田代表团", "南山代表团", "宝安代表团", "社会福利界"])},
        "address": address, "attachments": _urls(rng, "deputy", seq, 1),
    }


def _mediation(rng, seq, text, address, kind, at):
    district = rng.choice(SHENZHEN_DISTRICTS)
    payload = {
        "caseNo": f"TJ{district}-{at:%Y}-{seq:06d}",
        "registeredAt": at.isoformat(),
        "transferredAt": (at + timedelta(days=rng.randint(1, 10))).isoformat(),
        "disputeType": rng.choice(list(mediation.DISPUTE_TYPES)),
        "requestKind": _encode(mediation.REQUEST_KINDS, kind, "complaint"),
        "summary": text, "respondentKind": rng.choice(["person", "organisation"]),
        "applicant": {"name": synthetic_name(rng), "mobile": synthetic_phone(rng)},
        "mediator": {"org": rng.choice(["园岭街道人民调解委员会", "西乡街道人民调解委员会", "民治街道人民调解委员会"]),
                     "orgCode": f"12{district}MB{rng.randrange(10**6, 10**7)}X"},
        "address": address, "urgent": rng.random() < 0.1, "attachments": _urls(rng, "mediation", seq, 1),
    }
    if rng.random() < 0.7:
        payload["findings"] = "经人民调解委员会组织调解，双方未能达成一致，涉及职能部门处理。"
    if rng.random() < 0.5:
        payload["applicant"]["idNumber"] = synthetic_id_number(rng)
    return payload


def _party(rng, seq, text, address, kind, at):
    lat, lng = _point(rng)
    return {
        "reportNo": f"DY{at:%Y%m%d}{seq:06d}", "memberNo": f"DY{rng.randrange(10**9, 10**10)}",
        "branchCode": f"{rng.choice(SHENZHEN_DISTRICTS)}{rng.randrange(10**6):06d}",
        "branchName": rng.choice(["沙河街道白石洲社区党委", "华强北街道华航社区党委", "新湖街道楼村社区党委"]),
        "activity": rng.choice(["双报到", "巡河", "志愿服务"]), "discoveredAt": at.isoformat(),
        "category": kind.value, "urgency": _urgency(rng).value, "content": text,
        "address": address or "深圳市", "lng": lng, "lat": lat, "photos": _urls(rng, "party", seq),
    }


def _qrcode(rng, seq, text, address, kind, at):
    payload = {
        "id": f"{seq:016x}{rng.getrandbits(64):016x}", "qr": f"QR-{rng.randrange(10**6, 10**7)}",
        "place": address or "深圳市", "msg": text[:1000], "ts": at.isoformat(), "t": kind.value,
        "pics": _urls(rng, "qr", seq, 1),
    }
    if rng.random() < 0.5:
        payload["tel"] = synthetic_phone(rng)
    return payload


_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "hotline": _hotline, "app": _app, "wechat": _wechat, "web": _web, "mailbox": _mailbox,
    "leader_board": _leader_board, "grid": _grid, "police": _police, "deputy": _deputy,
    "party": _party, "qrcode": _qrcode, "mediation": _mediation,
}
SAMPLE_CODES = tuple(_BUILDERS)


def sample_payload(code: str, rng: random.Random, text: str, address: str, appeal_type: str,
                   seq: int) -> dict[str, Any]:
    """A valid payload in channel `code`'s own format; ticket ids are unique per `seq` (seq ≥ 0).

    The appeal type is kept where the channel can express it; the leader board has no 举报
    (posted as 投诉) and deputies only send suggestion/opinion/criticism (others become 建议).
    """
    try:
        build = _BUILDERS[code]
    except KeyError:
        raise ValueError(f"no sample builder for channel {code!r}") from None
    return build(rng, seq, text, address, AppealType(appeal_type), _when(rng, seq))
