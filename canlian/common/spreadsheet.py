"""Spreadsheet I/O shared by imports, reports, templates and exports.

Reading: .xlsx/.xlsm/.xlsb/.xls/.ods with python-calamine, .csv/.txt with encoding detection (UTF-8 with or
without BOM, UTF-16 with BOM, then GB18030, a superset of GBK). The kind of file is decided by its first
bytes, not by its name. Cells are kept as read: an ID number that Excel stored as a number stays a float, so
that the ID rules can say exactly what went wrong. Every read is checked against the upload limits and runs
in a child process with a memory and time limit (``safe_read``): no file can take the caller down.

Writing: ``XlsxBook``, a thin layer over xlsxwriter (constant-memory mode for big files) that writes text as
text (never as a formula), dates as dates, and can flag cells with a red fill and a comment.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import xlsxwriter

from . import safe_read
from .safe_read import PASSWORD_MESSAGE, PasswordProtected, SpreadsheetError, UnsafeFile

__all__ = ["PasswordProtected", "SpreadsheetError", "UnsafeFile"]

SUPPORTED_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods", ".csv", ".txt")
HEADER_SCAN_ROWS = 20
MIN_HEADER_MATCHES = 2

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OTHER_MAGIC = (
    (b"%PDF", "PDF 文档"),
    (b"\x89PNG", "PNG 图片"),
    (b"\xff\xd8\xff", "JPEG 图片"),
    (b"GIF8", "GIF 图片"),
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩包"),
    (b"{\\rtf", "RTF 文档"),
)


# ---- detecting the kind of file ------------------------------------------------------------------------


def _head(source: Path | bytes, size: int = 8192) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source[:size])
    with open(source, "rb") as fh:
        return fh.read(size)


def _zip_kind(source: Path | bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as zf:
            names = set(zf.namelist())
            if "xl/workbook.xml" in names:
                return "xlsx"
            if "xl/workbook.bin" in names:
                return "xlsb"
            if "mimetype" in names:
                mimetype = zf.read("mimetype").decode("ascii", "replace").strip()
                if mimetype == "application/vnd.oasis.opendocument.spreadsheet":
                    return "ods"
                if "opendocument.text" in mimetype:
                    raise SpreadsheetError(
                        "这是文字处理文档（.odt），不是表格文件；请上传 .xlsx、.xls 或 .csv 文件"
                    )
            if "word/document.xml" in names:
                raise SpreadsheetError("这是 Word 文档，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件")
            if "ppt/presentation.xml" in names:
                raise SpreadsheetError("这是 PowerPoint 文档，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件")
    except zipfile.BadZipFile:
        raise SpreadsheetError("文件已损坏，无法读取（压缩结构不完整）；请用 Excel 打开后重新保存") from None
    raise SpreadsheetError("这是一个压缩包，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件")


def detect_format(source: str | os.PathLike | bytes, *, filename: str = "") -> str:
    """``xlsx``, ``xlsb``, ``xls``, ``ods`` or ``csv`` from the file's content; SpreadsheetError otherwise."""
    if not isinstance(source, bytes | bytearray):
        source = Path(source)
        filename = filename or source.name
        if not source.exists():
            raise SpreadsheetError(f"找不到文件：{filename}")
        if source.is_dir():
            raise SpreadsheetError(f"“{filename}”是一个文件夹，不是文件")
    ext = os.path.splitext(filename)[1].lower()
    head = _head(source)
    if not head:
        raise SpreadsheetError("文件为空（0 字节）")
    if head.startswith(_ZIP_MAGIC):
        safe_read.check_zip_members(source, safe_read.upload_limits())
        return _zip_kind(source)
    if head.startswith(_OLE_MAGIC):
        if safe_read.is_encrypted_ole(source):
            raise PasswordProtected(PASSWORD_MESSAGE)
        return "xls"
    for magic, label in _OTHER_MAGIC:
        if head.startswith(magic):
            raise SpreadsheetError(f"这是{label}，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件")
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text_head.startswith((b"<html", b"<!doctype", b"<table", b"<?xml", b"mime-version")):
        raise SpreadsheetError(
            "这是网页或 XML 格式的文件（常见于从其他系统导出的“伪 .xls”），请用 Excel 打开后另存为 .xlsx 再上传"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        if ext in ("", ".csv", ".txt"):
            return "csv"
    elif b"\x00" in head:
        raise SpreadsheetError("无法识别的文件类型（不是 Excel、WPS 表格或 CSV 文件）")
    if ext in ("", ".csv", ".txt"):
        return "csv"
    if ext in (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"):
        raise SpreadsheetError(f"文件扩展名为 {ext}，但内容不是 Excel 文件（可能是改了扩展名的文本文件）")
    raise SpreadsheetError(f"不支持的文件类型“{ext or filename}”；请上传 .xlsx、.xls、.ods 或 .csv 文件")


# ---- reading -------------------------------------------------------------------------------------------


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]]  # rows[i] is Excel row i + 1, cells from column A


def upload_check(source: str | os.PathLike | bytes, *, filename: str = "") -> str:
    """What an upload page runs before it queues a job: the kind of file, and the cheap limit checks (size,
    inflated size, declared dimensions, password) so that the user hears at once; SpreadsheetError."""
    kind = detect_format(source, filename=filename)
    safe_read.check_structure(source, kind, safe_read.upload_limits())
    return kind


def read_sheets(source: str | os.PathLike | bytes, *, filename: str = "") -> tuple[str, list[Sheet]]:
    """All visible sheets of a workbook (a CSV file is one sheet), rows aligned to Excel's numbering.
    Checked against the upload limits, then read in a child process (``safe_read.read_isolated``)."""
    kind = detect_format(source, filename=filename)
    limits = safe_read.upload_limits()
    safe_read.check_structure(source, kind, limits)
    sheets = safe_read.read_isolated(source, kind=kind, limits=limits)
    return kind, [Sheet(name=name, rows=rows) for name, rows in sheets]


_HEADER_DROP = re.compile(r"[\s\u3000*＊:：/／、()（）\[\]【】<>《》\"'“”‘’_\-—.]+")
_HEADER_NOTES = re.compile(r"[(（\[【](必填|选填|可选|非必填|可不填)[)）\]】]")


def normalize_header(value: object) -> str:
    """``' 镇（街道）* '`` → ``镇街道``: case, spaces, brackets, markers and notes do not matter."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    text = _HEADER_NOTES.sub("", text)
    text = text.translate({code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)})
    return _HEADER_DROP.sub("", text).lower()


def match_headers(cells: Sequence[Any], aliases: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Field key → column index for the cells of one row; the first column matching a key wins."""
    lookup: dict[str, str] = {}
    for key, names in aliases.items():
        for name in names:
            lookup.setdefault(normalize_header(name), key)
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = lookup.get(normalize_header(cell))
        if key and key not in found:
            found[key] = index
    return found


@dataclass
class Table:
    """A sheet read against a set of expected columns."""

    format: str
    sheet: str
    header_row: int  # Excel row number of the header (1-based)
    headers: list[str]  # the header cells as written in the file
    columns: dict[str, int]  # field key → column index
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (Excel row number, cells)

    @property
    def width(self) -> int:
        return len(self.headers)

    def header_of(self, key: str, default: str = "") -> str:
        index = self.columns.get(key)
        return str(self.headers[index]).strip() if index is not None else default


def _is_blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def read_table(
    source: str | os.PathLike | bytes,
    *,
    aliases: Mapping[str, Iterable[str]],
    required: Mapping[str, str] | None = None,
    filename: str = "",
) -> Table:
    """Find the first sheet with a header row (at least two known column names in its first 20 rows) and
    return its data rows. ``required`` maps key → label; a missing required column is a SpreadsheetError."""
    kind, sheets = read_sheets(source, filename=filename)
    if not any(any(not _is_blank(c) for c in row) for s in sheets for row in s.rows):
        raise SpreadsheetError("文件中没有任何数据")
    for sheet in sheets:
        for index, cells in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
            columns = match_headers(cells, aliases)
            if len(columns) < MIN_HEADER_MATCHES:
                continue
            missing = [label for key, label in (required or {}).items() if key not in columns]
            if missing:
                raise SpreadsheetError(
                    f"工作表“{sheet.name}”第{index + 1}行的表头缺少必需的列：{'、'.join(missing)}"
                    "（请使用导入模板）"
                )
            headers = ["" if c is None else str(c).strip() for c in cells]
            width = len(headers)
            rows = []
            for offset, row in enumerate(sheet.rows[index + 1 :], start=index + 2):
                if all(_is_blank(c) for c in row):
                    continue
                if len(row) < width:
                    row = [*row, *([""] * (width - len(row)))]
                rows.append((offset, row))
            if not rows:
                raise SpreadsheetError(f"工作表“{sheet.name}”只有表头（第{index + 1}行），没有数据行")
            return Table(kind, sheet.name, index + 1, headers, columns, rows)
    expected = "、".join(f"“{next(iter(names))}”" for names in list(aliases.values())[:4])
    raise SpreadsheetError(f"未找到表头：前{HEADER_SCAN_ROWS}行中没有 {expected} 等列名（请使用导入模板）")


def column_letter(index: int) -> str:
    """0 → ``A``, 26 → ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# ---- writing -------------------------------------------------------------------------------------------

CONSTANT_MEMORY_ROWS = 5000


class XlsxSheet:
    def __init__(self, book: XlsxBook, worksheet, headers: Sequence[str]):
        self._book = book
        self._ws = worksheet
        self._row = 1 if headers else 0
        self.width = len(headers)

    @property
    def worksheet(self):
        return self._ws

    def append(
        self, values: Sequence[Any], *, flagged: Iterable[int] = (), comments: Mapping[int, str] | None = None
    ) -> int:
        """Write one row; ``flagged`` columns get the error fill, ``comments`` a note. Returns its index."""
        row = self._row
        flagged = set(flagged)
        formats = self._book.formats
        for col, value in enumerate(values):
            fmt = formats["error"] if col in flagged else None
            _write_cell(self._ws, row, col, value, fmt, formats)
        for col in flagged:
            if col >= len(values):
                self._ws.write_blank(row, col, None, formats["error"])
        for col, text in (comments or {}).items():
            self._ws.write_comment(row, col, text, {"x_scale": 2, "y_scale": 1.5})
        self._row += 1
        return row


def _write_cell(ws, row: int, col: int, value: Any, fmt, formats) -> None:
    if value is None or value == "":
        if fmt is not None:
            ws.write_blank(row, col, None, fmt)
        return
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, datetime):
        ws.write_datetime(row, col, value.replace(tzinfo=None), fmt or formats["datetime"])
    elif isinstance(value, date):
        ws.write_datetime(row, col, datetime.combine(value, time()), fmt or formats["date"])
    elif isinstance(value, time | timedelta):
        ws.write_string(row, col, str(value), fmt)
    else:
        ws.write_string(row, col, str(value), fmt)  # never a formula, never a URL


class XlsxBook:
    """``with XlsxBook(out) as book: sheet = book.add_sheet("名单", headers); sheet.append([...])``."""

    def __init__(self, out: str | os.PathLike | IO[bytes], *, constant_memory: bool = False):
        options = {
            "constant_memory": constant_memory,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "default_date_format": "yyyy-mm-dd",
        }
        if isinstance(out, os.PathLike):
            out = str(out)
        self._wb = xlsxwriter.Workbook(out, options)
        wb = self._wb
        self.formats = {
            "header": wb.add_format(
                {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"}
            ),
            "text": wb.add_format({"num_format": "@"}),
            "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
            "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            "error": wb.add_format({"bg_color": "#F8CBAD"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        }

    @property
    def workbook(self):
        return self._wb

    def add_sheet(
        self,
        name: str,
        headers: Sequence[str] = (),
        *,
        widths: Mapping[int, float] | Sequence[float] | None = None,
        text_columns: Iterable[int] = (),
        freeze: bool = True,
    ) -> XlsxSheet:
        ws = self._wb.add_worksheet(name[:31])
        width_map = dict(enumerate(widths)) if isinstance(widths, Sequence) else dict(widths or {})
        text_columns = set(text_columns)
        for col in sorted(set(range(len(headers))) | set(width_map) | text_columns):
            width = width_map.get(col)
            if width is None and col < len(headers):
                width = max(10, min(40, len(str(headers[col])) * 2 + 2))
            fmt = self.formats["text"] if col in text_columns else None
            if width is not None or fmt is not None:
                ws.set_column(col, col, width or 12, fmt)
        for col, title in enumerate(headers):
            ws.write_string(0, col, str(title), self.formats["header"])
        if headers and freeze:
            ws.freeze_panes(1, 0)
        return XlsxSheet(self, ws, headers)

    def close(self) -> None:
        self._wb.close()

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_xlsx(
    out: str | os.PathLike | IO[bytes],
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    sheet: str = "Sheet1",
    text_columns: Iterable[int] = (),
    constant_memory: bool = False,
) -> int:
    """One sheet, a header row and data rows; returns the number of data rows written."""
    count = 0
    with XlsxBook(out, constant_memory=constant_memory) as book:
        ws = book.add_sheet(sheet, headers, text_columns=text_columns)
        for row in rows:
            ws.append(row)
            count += 1
    return count
