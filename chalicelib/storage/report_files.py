"""The report files (每日快报, 周分析, 月研判: HTML and CSV) in the stack's report bucket (S3)."""
from __future__ import annotations

from chalicelib.aws import client
from chalicelib.settings import get_settings


class ReportFiles:
    """put/get of report files by key; the bucket is the stack's (JIESU_REPORT_BUCKET)."""

    def __init__(self, bucket: str | None = None) -> None:
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        """Read when used: a platform built before the environment named the bucket still finds it."""
        return self._bucket or get_settings().report_bucket

    def put(self, key: str, body: bytes, content_type: str) -> None:
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                ServerSideEncryption="AES256")

    def get(self, key: str) -> tuple[bytes, str]:
        """The file's bytes and content type; KeyError when there is none."""
        s3 = client("s3")
        try:
            obj = s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            raise KeyError(key) from None
        return obj["Body"].read(), obj.get("ContentType", "application/octet-stream")
