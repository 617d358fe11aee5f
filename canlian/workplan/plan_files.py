"""A work-plan document (.docx, .txt, PDF with a text layer) → its paragraphs, read like every upload: the
cheap checks first (size, zip directory, inflated size), then the parse in a child process with a memory and
time limit (``canlian.common.safe_read``), so no document can take the server or the worker down."""

from __future__ import annotations

import os
from pathlib import Path

from canlian.common import safe_read
from canlian.common.safe_read import SpreadsheetError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def document_kind(data: bytes, filename: str = "") -> str:
    """``docx``, ``pdf`` or ``txt`` from the content; SpreadsheetError (in Chinese) for anything else."""
    ext = os.path.splitext(filename)[1].lower()
    if not data:
        raise SpreadsheetError("文件为空（0 字节）")
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        safe_read.check_zip_members(data, safe_read.upload_limits())
        import io
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            raise SpreadsheetError("文件已损坏，无法读取（压缩结构不完整）") from None
        if "word/document.xml" in names:
            return "docx"
        raise SpreadsheetError("这不是 Word 文档（.docx）；请上传 .docx、.txt 或带文字层的 PDF 文件")
    if data.startswith(OLE_MAGIC):
        if safe_read.is_encrypted_ole(data):
            raise SpreadsheetError("文件设置了密码，请取消密码后再上传")
        raise SpreadsheetError("这是旧版 Word 文档（.doc）；请在 Word 或 WPS 中另存为 .docx 后再上传")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpreadsheetError(
            f"无法识别的文件类型“{ext or filename}”；请上传 .docx、.txt 或带文字层的 PDF 文件"
        )
    return "txt"


def read_paragraphs(source: str | os.PathLike | bytes, *, filename: str = "") -> tuple[str, list[list[str]]]:
    """(kind, ``[text, style]`` rows) of a plan document; SpreadsheetError with a Chinese message."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        path = Path(source)
        filename = filename or path.name
        if not path.is_file():
            raise SpreadsheetError(f"找不到文件：{filename}")
        limits = safe_read.upload_limits()
        message = safe_read.size_error(path.stat().st_size, limits)
        if message:
            raise safe_read.UnsafeFile(message)
        data = path.read_bytes()
    kind = document_kind(data, filename)
    limits = safe_read.upload_limits()
    safe_read.check_structure(data, kind, limits)
    sheets = safe_read.read_isolated(data, kind=kind, limits=limits)
    rows = sheets[0][1] if sheets else []
    if kind == "pdf" and not any(text.strip() for text, _ in rows):
        raise SpreadsheetError("PDF 中没有文字层（可能是扫描件）；请上传 Word 文档或带文字的 PDF")
    return kind, rows
