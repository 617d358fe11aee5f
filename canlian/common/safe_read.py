"""Reading an uploaded spreadsheet without letting the file take the process down.

A 5 KB xlsx whose sheet holds a cell at XFD1048576 makes calamine allocate rows × columns cells (512 GB)
and abort the whole process; a few MB of zip can inflate to gigabytes. So every upload is read in three
steps, each refusing with a Chinese message that names the limit and the value found:

1. ``check_structure`` (cheap, in the calling process, also run by the upload pages before a job is made):
   the file size; for zip formats the number of members, their declared uncompressed size and compression
   ratio, and each worksheet's declared ``<dimension ref=…>``; for OLE files a password: an encrypted
   Office container (``EncryptionInfo`` / ``EncryptedPackage``, what Excel writes for a password-protected
   xlsx) or an xls whose workbook stream starts with FILEPASS (calamine's format detection turns that into
   "cannot detect file format").
2. ``check_content`` (in the reading process, before calamine sees the file): a worksheet whose declared
   dimension is missing or implausible (far smaller than the sheet's size) is inflated as a stream,
   counting its real bytes and rows and reading the cell references at its end (the largest row and
   column). Sheets with a plausible dimension are not inflated twice: that would cost 0.15 s per 100,000
   rows for every file, and the limits of step 3 catch what a lying dimension hides. After the parse the
   rows and columns read are checked again.
3. The parse itself runs in a child process (``read_isolated``) with an address-space limit (RLIMIT_AS),
   a CPU limit, no core file and a wall-clock timeout: whatever slips past the checks (a crafted xls,
   cells written out of order) kills only the child, and the caller gets ``LIMIT_MESSAGE``. The rows come
   back pickled through a pipe (no copy of the ID numbers on disk); the child gets none of the server's
   environment.

The child is a fresh interpreter (``python -I -c …``) that imports this module only (no Django, no
xlsxwriter): about 40 ms to start. A fork of the web server would be cheaper but unsafe (waitress runs
threads) and would inherit the server's address space, which makes RLIMIT_AS meaningless.

Cost, 100,000 rows × 12 columns (bench/import_persons.py's file, 7.8 MB), median of 5 alternating runs on
the shared 2-core machine: calamine in the calling process 1.26 s; checks + child 1.54 s (+0.28 s wall,
+0.33 s CPU: start 0.04 s, pickling 0.12 s, unpickling 0.16 s with the collector paused, the pipe; the
child parses with the collector off, which wins a little back).
"""

from __future__ import annotations

import csv
import gc
import io
import logging
import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile
import zlib
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .exceptions import DomainError

logger = logging.getLogger(__name__)

LIMIT_MESSAGE = "文件过大或结构异常，读取时超出内存/时间限制"
PASSWORD_MESSAGE = "文件设置了密码，请在 Excel 中取消密码后再上传"
BROKEN_MESSAGE = "文件已损坏或格式不正确，无法读取"
INTERNAL_MESSAGE = "读取文件时发生内部错误，未写入任何数据；请联系管理员（已记录日志）"

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MB = 1024 * 1024


class SpreadsheetError(DomainError):
    """The file cannot be used at all (unreadable, empty, wrong type, no header). Nothing is written."""


class UnsafeFile(SpreadsheetError):
    """The file is over a limit (size, rows, columns, inflated size) or broke the reading process."""


class PasswordProtected(SpreadsheetError):
    """The workbook is encrypted with a password."""


@dataclass(frozen=True)
class Limits:
    """What an upload may be; the settings ``CANLIAN_UPLOAD_*`` override each default."""

    max_bytes: int = 50 * MB  # the file as uploaded
    max_rows: int = 200_000  # per sheet
    max_columns: int = 1_000  # per sheet (Excel allows 16,384)
    max_cells: int = 20_000_000  # rows × columns of a sheet's extent, what the reader allocates
    max_uncompressed: int = 200 * MB  # all zip members inflated
    max_ratio: int = 100  # inflated ÷ compressed, per zip member of at least RATIO_MIN_BYTES
    max_members: int = 10_000  # zip members
    memory: int = 2048 * MB  # address space of the reading process (RLIMIT_AS)
    seconds: float = 120.0  # wall clock (and CPU) of the reading process


SETTINGS = {
    "max_bytes": "CANLIAN_UPLOAD_MAX_BYTES",
    "max_rows": "CANLIAN_UPLOAD_MAX_ROWS",
    "max_columns": "CANLIAN_UPLOAD_MAX_COLUMNS",
    "max_cells": "CANLIAN_UPLOAD_MAX_CELLS",
    "max_uncompressed": "CANLIAN_UPLOAD_MAX_UNCOMPRESSED_BYTES",
    "max_ratio": "CANLIAN_UPLOAD_MAX_COMPRESSION_RATIO",
    "max_members": "CANLIAN_UPLOAD_MAX_ZIP_MEMBERS",
    "memory": "CANLIAN_UPLOAD_READ_MEMORY_BYTES",
    "seconds": "CANLIAN_UPLOAD_READ_SECONDS",
}
RATIO_MIN_BYTES = 1 * MB  # small members (styles, shared strings of a tiny file) compress very well
SCAN_CHUNK = 1 * MB
TAIL_BYTES = 64 * 1024  # the end of a worksheet: its last rows and their cell references
BYTES_PER_CELL = 1024  # a worksheet larger than this per declared cell declares less than it holds


def upload_limits() -> Limits:
    from django.conf import settings

    defaults = Limits()
    return Limits(**{key: getattr(settings, name, getattr(defaults, key)) for key, name in SETTINGS.items()})


def _mb(size: int) -> str:
    return f"{size / MB:,.1f} MB"


def size_error(size: int, limits: Limits) -> str:
    """The message for a file over ``max_bytes``, or ``""``."""
    if size > limits.max_bytes:
        return f"文件过大：{_mb(size)}，单个文件不能超过 {_mb(limits.max_bytes)}"
    return ""


# ---- cell references -----------------------------------------------------------------------------------

_REF = re.compile(rb"^\$?([A-Za-z]{1,4})\$?(\d{1,8})$")


def column_number(letters: str) -> int:
    """``A`` → 1, ``XFD`` → 16384."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number > 0:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _check_extent(sheet: str, rows: int, columns: int, limits: Limits, *, declared: str = "") -> None:
    where = f"工作表“{sheet}”" + (f"声明的范围 {declared} " if declared else "")
    if rows > limits.max_rows:
        raise UnsafeFile(
            f"{where}有 {rows:,} 行，超过上限 {limits.max_rows:,} 行；请分成几个文件上传"
            if not declared
            else f"{where}到第 {rows:,} 行，超过上限 {limits.max_rows:,} 行"
        )
    if columns > limits.max_columns:
        raise UnsafeFile(
            f"{where}有 {columns:,} 列（到 {_column_letters(columns)} 列），超过上限 {limits.max_columns:,} 列"
        )
    if rows * columns > limits.max_cells:
        raise UnsafeFile(
            f"{where}共 {rows:,} 行 × {columns:,} 列 = {rows * columns:,} 个单元格，"
            f"超过上限 {limits.max_cells:,} 个单元格"
        )


# ---- OLE (Compound File Binary): xls, and the container Excel writes for a password-protected xlsx -------

_FREE_OR_END = 0xFFFFFFFA  # sector numbers at or above this are markers (end of chain, free, FAT, DIFAT)
_FILEPASS = 0x002F  # BIFF record: the workbook is encrypted
_BOF = 0x0809


class _Ole:
    """Just enough of the Compound File Binary format to list the directory and read the start of a
    stream (from the FAT or the mini stream). Every chain is bounded by the file's sector count."""

    def __init__(self, fh):
        fh.seek(0, 2)
        file_size = fh.tell()
        fh.seek(0)
        header = fh.read(512)
        if len(header) < 512 or not header.startswith(OLE_MAGIC):
            raise ValueError("not an OLE file")
        shift = struct.unpack_from("<H", header, 0x1E)[0]
        if shift not in (9, 12):
            raise ValueError("bad sector size")
        self.fh, self.size = fh, 1 << shift
        self.max_sectors = file_size // self.size + 1
        per_sector = self.size // 4
        n_fat, first_dir = struct.unpack_from("<II", header, 0x2C)
        self.mini_cutoff, first_minifat, n_minifat, first_difat, n_difat = struct.unpack_from(
            "<IIIII", header, 0x38
        )
        difat = list(struct.unpack_from("<109I", header, 0x4C))
        for number in self._walk(first_difat, limit=n_difat, difat=True):
            difat.extend(struct.unpack(f"<{per_sector}I", self._sector(number))[:-1])
        self.fat: list[int] = []
        for number in [s for s in difat if s < _FREE_OR_END][: min(n_fat, self.max_sectors)]:
            self.fat.extend(struct.unpack(f"<{per_sector}I", self._sector(number)))
        self.entries: dict[str, tuple[int, int, int]] = {}  # name → (type, start, size)
        directory = self._chain_bytes(first_dir, self.max_sectors * self.size)
        for offset in range(0, len(directory) - 127, 128):
            length = struct.unpack_from("<H", directory, offset + 64)[0]
            kind = directory[offset + 66]
            if kind in (1, 2, 5) and 2 <= length <= 64:
                name = directory[offset : offset + length - 2].decode("utf-16-le", "replace")
                start, size = struct.unpack_from("<IQ", directory, offset + 116)
                self.entries.setdefault(name, (kind, start, size & 0xFFFFFFFF if shift == 9 else size))
        self.first_minifat, self.n_minifat = first_minifat, n_minifat

    def _sector(self, number: int) -> bytes:
        self.fh.seek((number + 1) * self.size)
        data = self.fh.read(self.size)
        if len(data) < self.size:
            raise ValueError("sector beyond the end of the file")
        return data

    def _walk(self, first: int, *, limit: int | None = None, difat: bool = False):
        seen: set[int] = set()
        number = first
        bound = min(limit, self.max_sectors) if limit is not None else self.max_sectors
        while number < _FREE_OR_END and number not in seen and len(seen) < bound:
            seen.add(number)
            yield number
            if difat:
                number = struct.unpack(f"<{self.size // 4}I", self._sector(number))[-1]
            else:
                number = self.fat[number] if number < len(self.fat) else _FREE_OR_END

    def _chain_bytes(self, first: int, limit: int) -> bytes:
        out = bytearray()
        for number in self._walk(first):
            out += self._sector(number)
            if len(out) >= limit:
                break
        return bytes(out[:limit])

    def stream_head(self, name: str, limit: int) -> bytes:
        _kind, start, size = self.entries[name]
        if size >= self.mini_cutoff:
            return self._chain_bytes(start, min(size, limit))
        # a small stream lives in the mini stream (64-byte sectors inside the root entry's chain)
        mini_stream = self._chain_bytes(self.entries["Root Entry"][1], 64 * self.max_sectors)
        minifat_raw = self._chain_bytes(self.first_minifat, self.size * min(self.n_minifat, self.max_sectors))
        minifat = struct.unpack(f"<{len(minifat_raw) // 4}I", minifat_raw)
        out = bytearray()
        seen: set[int] = set()
        number = start
        while number < _FREE_OR_END and number not in seen and len(out) < min(size, limit):
            seen.add(number)
            out += mini_stream[number * 64 : number * 64 + 64]
            number = minifat[number] if number < len(minifat) else _FREE_OR_END
        return bytes(out[: min(size, limit)])


def ole_stream_names(fh) -> set[str] | None:
    """The names in an OLE file's directory (streams and storages), or None when it is not a readable
    OLE file."""
    try:
        return set(_Ole(fh).entries)
    except (ValueError, struct.error):
        return None


def _biff_encrypted(head: bytes) -> bool:
    """A FILEPASS record among the first records of the workbook globals (it follows BOF)."""
    offset = 0
    for _ in range(32):
        if offset + 4 > len(head):
            return False
        rtype, length = struct.unpack_from("<HH", head, offset)
        if rtype == _FILEPASS:
            return True
        if offset == 0 and rtype != _BOF:
            return False
        offset += 4 + length
    return False


def is_encrypted_ole(source) -> bool:
    """An Office file encrypted with a password: an OLE container with ``EncryptionInfo`` (what Excel
    writes for a password-protected xlsx), or an xls whose workbook stream starts with a FILEPASS record."""
    with _open(source) as fh:
        try:
            ole = _Ole(fh)
            if {"EncryptionInfo", "EncryptedPackage"} & set(ole.entries):
                return True
            name = next((n for n in ("Workbook", "Book", "WORKBOOK", "BOOK") if n in ole.entries), None)
            return bool(name) and _biff_encrypted(ole.stream_head(name, 4096))
        except (ValueError, struct.error, KeyError):
            return False


# ---- zip (xlsx, xlsm, xlsb, ods) -----------------------------------------------------------------------


def _open(source):
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    return open(source, "rb")


def _zip_entries_declared(fh) -> int | None:
    """The member count in the end-of-central-directory record (read before ZipFile parses the directory,
    which costs memory per member); None when absent or zip64."""
    fh.seek(0, 2)
    end = fh.tell()
    fh.seek(max(0, end - 65557))
    tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    count = struct.unpack_from("<H", tail, at + 10)[0]
    return None if count == 0xFFFF else count


def _check_zip_directory(zf: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise UnsafeFile(f"压缩结构异常：文件内含 {len(infos):,} 个部件，超过上限 {limits.max_members:,} 个")
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed:
        raise UnsafeFile(
            f"文件解压后共 {_mb(total)}，超过上限 {_mb(limits.max_uncompressed)}"
            "（可能是异常的压缩文件）；请分成几个文件上传"
        )
    for info in infos:
        if info.file_size >= RATIO_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise UnsafeFile(
                    f"文件中的部件“{info.filename}”压缩比为 {ratio:,.0f}:1，超过上限 {limits.max_ratio}:1"
                    "（可能是异常的压缩文件）"
                )
    return infos


_DIMENSION = re.compile(rb"<(?:[\w.-]+:)?dimension\b[^>]*?\sref=\"([^\"]{1,40})\"")
_SHEET = re.compile(rb"<(?:[\w.-]+:)?sheet\b[^>]*>")
_ATTR = re.compile(rb"([\w:.-]+)=\"([^\"]*)\"")
_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b[^>]*>")
_CELL_REF = re.compile(rb"\sr=\"\$?([A-Z]{1,4})\$?(\d{1,8})\"")
_ROW_REF = re.compile(rb"<(?:[\w.-]+:)?row\b[^>]*?\sr=\"(\d{1,8})\"")


def _is_worksheet(name: str) -> bool:
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def _small_member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return b""
    if info.file_size > 4 * MB:
        return b""
    with zf.open(info) as fh:
        return fh.read(4 * MB)


def _sheet_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet member → the sheet's name as the user sees it (``xl/worksheets/sheet1.xml`` → ``名单``)."""
    targets = {}
    for tag in _RELATIONSHIP.findall(_small_member(zf, "xl/_rels/workbook.xml.rels")):
        attrs = dict(_ATTR.findall(tag))
        target = attrs.get(b"Target", b"").decode("utf-8", "replace")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        targets[attrs.get(b"Id", b"")] = os.path.normpath(target).replace(os.sep, "/")
    names = {}
    for tag in _SHEET.findall(_small_member(zf, "xl/workbook.xml")):
        attrs = _ATTR.findall(tag)
        name = next((v for k, v in attrs if k == b"name"), None)
        rid = next((v for k, v in attrs if k.endswith(b":id")), b"")
        if rid in targets and name is not None:
            names[targets[rid]] = _unescape(name.decode("utf-8", "replace"))
    return names


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _ref_extent(ref: bytes) -> tuple[int, int] | None:
    """``A1:XFD1048576`` → (1048576, 16384): the last row and column of a range."""
    last = ref.split(b":")[-1]
    match = _REF.match(last)
    if not match:
        return None
    return int(match.group(2)), column_number(match.group(1).decode())


def _check_dimensions(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits
) -> list[zipfile.ZipInfo]:
    """Each worksheet's declared ``<dimension ref=…>`` against the limits. Returns the worksheets whose
    declaration cannot be relied on (none, or far less than the sheet's size suggests): those get the
    full scan in ``check_content``."""
    names = None
    unsure = []
    for info in infos:
        if not _is_worksheet(info.filename):
            continue
        with zf.open(info) as fh:
            head = fh.read(16 * 1024)
        match = _DIMENSION.search(head)
        extent = _ref_extent(match.group(1)) if match else None
        if extent is None:
            unsure.append(info)
            continue
        if names is None:
            names = _sheet_names(zf)
        sheet = names.get(info.filename, info.filename)
        _check_extent(sheet, *extent, limits, declared=match.group(1).decode("ascii", "replace"))
        if info.file_size > max(RATIO_MIN_BYTES, extent[0] * extent[1] * BYTES_PER_CELL):
            unsure.append(info)
    return unsure


def check_zip_members(source, limits: Limits) -> None:
    """Before any ZipFile is opened (it builds an object per member): the member count the file declares."""
    with _open(source) as fh:
        declared = _zip_entries_declared(fh)
    if declared is not None and declared > limits.max_members:
        raise UnsafeFile(f"压缩结构异常：文件内含 {declared:,} 个部件，超过上限 {limits.max_members:,} 个")


def _zip_structure(source, limits: Limits, *, deep: bool) -> None:
    check_zip_members(source, limits)
    with _open(source) as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                unsure = _check_dimensions(zf, _check_zip_directory(zf, limits), limits)
                if deep and unsure:
                    _scan_worksheets(fh, zf, unsure, limits)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
            raise SpreadsheetError(
                "文件已损坏，无法读取（压缩结构不完整或校验失败）；请用 Excel 打开后重新保存"
            ) from None


def _member_chunks(fh, zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    """The inflated bytes of a member in chunks of at most SCAN_CHUNK, without zipfile's CRC pass (a third of
    the time) and without trusting the declared size: a member that inflates to more than it declares is
    counted at its real size."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
        with zf.open(info) as member:  # rare methods (bzip2, lzma): zipfile's own stream
            while chunk := member.read(SCAN_CHUNK):
                yield chunk
        return
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local header")
    name_len, extra_len = struct.unpack_from("<HH", local, 26)
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    left = info.compress_size
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while left > 0:
        data = fh.read(min(left, SCAN_CHUNK))
        if not data:
            raise EOFError
        left -= len(data)
        if inflate is None:
            yield data
            continue
        while data:
            chunk = inflate.decompress(data, SCAN_CHUNK)
            data = inflate.unconsumed_tail
            if chunk:
                yield chunk
            if inflate.eof:
                return


def _scan_worksheets(fh, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Inflate worksheets as a stream, counting the real bytes, the rows, and reading the cell references of
    the last rows (the largest row and column of a well-ordered sheet). About 0.15 s for 100,000 rows, so
    only for sheets whose declared dimension is missing or implausible."""
    total = 0
    names = None
    for info in infos:
        rows = 0
        row_tag = b""  # ``<row`` or, in a sheet written with a namespace prefix (``<x:row``), ``:row``
        carry = b""
        tail = b""
        for chunk in _member_chunks(fh, zf, info):
            total += len(chunk)
            if total > limits.max_uncompressed:
                raise UnsafeFile(
                    f"文件解压后超过 {_mb(limits.max_uncompressed)} 的上限（可能是异常的压缩文件）；"
                    "请分成几个文件上传"
                )
            scan = carry + chunk
            if not row_tag:
                row_tag = b"<row" if b"<row" in scan else b":row" if b":row" in scan else b""
            if row_tag:
                rows += scan.count(row_tag)
            carry = chunk[-3:]
            tail = chunk if len(chunk) >= TAIL_BYTES else (tail + chunk)[-TAIL_BYTES:]
        last_row = max((int(r) for r in _ROW_REF.findall(tail)), default=0)
        last_col = 0
        for letters, number in _CELL_REF.findall(tail):
            last_row = max(last_row, int(number))
            last_col = max(last_col, column_number(letters.decode()))
        if names is None:
            names = _sheet_names(zf)
        sheet = names.get(info.filename, info.filename)
        _check_extent(sheet, max(rows, last_row), last_col, limits)


# ---- the checks ---------------------------------------------------------------------------------------


def _size(source) -> int:
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    return os.stat(source).st_size


def check_structure(source, kind: str, limits: Limits) -> None:
    """The cheap checks (no full inflate): size, zip directory, declared dimensions, OLE encryption."""
    message = size_error(_size(source), limits)
    if message:
        raise UnsafeFile(message)
    if kind in ("xlsx", "xlsb", "ods", "docx"):
        _zip_structure(source, limits, deep=False)
    elif kind == "xls" and is_encrypted_ole(source):
        raise PasswordProtected(PASSWORD_MESSAGE)


def check_content(source, kind: str, limits: Limits) -> None:
    """Everything ``check_structure`` checks, and every zip member inflated and every worksheet's rows."""
    message = size_error(_size(source), limits)
    if message:
        raise UnsafeFile(message)
    if kind in ("xlsx", "xlsb", "ods", "docx"):
        _zip_structure(source, limits, deep=kind != "docx")
    elif kind == "xls" and is_encrypted_ole(source):
        raise PasswordProtected(PASSWORD_MESSAGE)


# ---- parsing (in the reading process) ------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise SpreadsheetError("文件编码无法识别（UTF-16 内容损坏）") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpreadsheetError("文件编码无法识别：请用 Excel 另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后再上传")


def csv_rows(data: bytes, limits: Limits) -> list[list[Any]]:
    """The rows of a CSV file, counted while they are read: stops at the row or column limit."""
    text = decode_text(data)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    rows: list[list[Any]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if len(row) > limits.max_columns:
                raise UnsafeFile(
                    f"CSV 文件第 {len(rows) + 1:,} 行有 {len(row):,} 列，超过上限 {limits.max_columns:,} 列"
                )
            rows.append(row)
            if len(rows) > limits.max_rows:
                lines = text.count("\n") + (0 if text.endswith("\n") else 1)
                raise UnsafeFile(
                    f"CSV 文件有 {lines:,} 行，超过上限 {limits.max_rows:,} 行；请分成几个文件上传"
                )
    except csv.Error as exc:
        raise SpreadsheetError(f"CSV 文件第 {len(rows) + 1:,} 行格式错误：{exc}") from None
    return rows


DOCUMENT_KINDS = ("docx", "pdf", "txt")


def document_paragraphs(data: bytes, kind: str, limits: Limits) -> list[list[str]]:
    """A document's paragraphs in reading order as ``[text, style]`` rows (style: the .docx paragraph style,
    ``"#"`` for a markdown heading of a text file, else ``""``); table cells of a .docx are paragraphs too.
    A PDF gives the lines of its text layer (a scanned PDF with no text layer gives none)."""
    rows: list[list[str]] = []
    if kind == "txt":
        rows = [[line, ""] for line in decode_text(data).splitlines()]
    elif kind == "docx":
        import docx  # python-docx
        from docx.opc.exceptions import PackageNotFoundError

        try:
            document = docx.Document(io.BytesIO(data))
            for child in document.element.body.iterchildren():
                tag = child.tag.rsplit("}", 1)[-1]
                if tag == "p":
                    par = docx.text.paragraph.Paragraph(child, document)
                    rows.append([par.text, par.style.name if par.style is not None else ""])
                elif tag == "tbl":
                    for row in docx.table.Table(child, document).rows:
                        for cell in row.cells:
                            rows.extend([p.text, "table"] for p in cell.paragraphs)
        except MemoryError:
            raise
        except (PackageNotFoundError, Exception) as exc:  # lxml, zip and package errors of a broken file
            raise SpreadsheetError(f"{BROKEN_MESSAGE}（{type(exc).__name__}）") from None
    elif kind == "pdf":
        import pypdf
        from pypdf.errors import PdfReadError

        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise PasswordProtected("文件设置了密码，请取消密码后再上传")
            for page in reader.pages:
                rows.extend([line, ""] for line in (page.extract_text() or "").splitlines())
        except (PdfReadError, ValueError, KeyError, TypeError, zlib.error) as exc:
            raise SpreadsheetError(f"{BROKEN_MESSAGE}（{type(exc).__name__}）") from None
    if len(rows) > limits.max_rows:
        raise UnsafeFile(f"文件有 {len(rows):,} 段，超过上限 {limits.max_rows:,} 段")
    return rows


def parse_sheets(data: bytes, kind: str, limits: Limits) -> list[tuple[str, list[list[Any]]]]:
    """(name, rows) for every visible worksheet; rows[i] is Excel row i + 1, cells from column A. A document
    (``DOCUMENT_KINDS``) is one sheet named ``document`` of ``[text, style]`` rows."""
    if kind == "csv":
        return [("CSV", csv_rows(data, limits))]
    if kind in DOCUMENT_KINDS:
        return [("document", document_paragraphs(data, kind, limits))]
    from python_calamine import (
        CalamineError,
        CalamineWorkbook,
        PasswordError,
        SheetTypeEnum,
        SheetVisibleEnum,
    )

    sheets = []
    try:
        # from_filelike: calamine decides by content, not by the (possibly wrong) extension.
        with CalamineWorkbook.from_filelike(io.BytesIO(data)) as wb:
            for meta in wb.sheets_metadata:
                if meta.visible != SheetVisibleEnum.Visible or meta.typ != SheetTypeEnum.WorkSheet:
                    continue
                rows = wb.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
                _check_extent(meta.name, len(rows), max(map(len, rows), default=0), limits)
                sheets.append((meta.name, rows))
    except PasswordError:
        raise PasswordProtected(PASSWORD_MESSAGE) from None
    except (CalamineError, ValueError, OSError) as exc:
        raise SpreadsheetError(f"{BROKEN_MESSAGE}（{type(exc).__name__}）") from None
    except BaseException as exc:  # a Rust panic on a malformed file (pyo3's PanicException is no Exception)
        if type(exc).__name__ != "PanicException":
            raise
        raise SpreadsheetError(f"{BROKEN_MESSAGE}（{type(exc).__name__}）") from None
    return sheets


# ---- the reading process -------------------------------------------------------------------------------

_ERRORS = {cls.__name__: cls for cls in (SpreadsheetError, UnsafeFile, PasswordProtected)}
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the ``canlian`` package
_CHILD_CODE = "import sys; sys.path.insert(0, sys.argv[1]); from canlian.common.safe_read import child_main; child_main()"


_CHILD_ENV = {
    **{k: os.environ[k] for k in ("PATH", "LD_LIBRARY_PATH", "TMPDIR") if k in os.environ},
    "LANG": "C.UTF-8",
    "RUST_BACKTRACE": "0",
}


def _address_space_limit(memory: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, resource.getrlimit(resource.RLIMIT_AS)[1]))


def child_main() -> None:
    """The reading process: stdin = the file, argv[2] = kind, argv[3] = limits as ``k=v`` pairs;
    stdout = a pickle of ("ok", sheets) or ("error", class name, message); exit 0 either way."""
    import resource

    gc.disable()  # short-lived, builds millions of lists: collection passes would only cost time
    kind = sys.argv[2]
    limits = Limits(**{k: type(getattr(Limits, k))(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])})
    seconds = max(1, int(limits.seconds) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort must not leave the rows in a core file
    out = sys.stdout.buffer
    try:
        data = sys.stdin.buffer.read(limits.max_bytes + 1)
        if kind in ("docx", "pdf"):
            import docx  # noqa: F401  (as for calamine: loaded before the limit)
            import pypdf  # noqa: F401
        elif kind not in ("csv", "txt"):
            import python_calamine  # noqa: F401  (mapped before the limit: a low limit fails the parse, not the import)
        _address_space_limit(limits.memory)
        check_content(data, kind, limits)
        result: tuple = ("ok", parse_sheets(data, kind, limits))
    except SpreadsheetError as exc:
        result = ("error", type(exc).__name__, exc.message)
    except MemoryError:
        result = ("error", "UnsafeFile", LIMIT_MESSAGE)
    data = None
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # no memo: the rows hold no shared or recursive objects; 3× faster at 100,000 rows
    pickler.dump(result)
    out.flush()


def read_isolated(source, *, kind: str, limits: Limits) -> list[tuple[str, list[list[Any]]]]:
    """Run ``check_content`` and ``parse_sheets`` in a child process under ``limits``; SpreadsheetError
    (UnsafeFile with LIMIT_MESSAGE when the child ran out of memory or time, or died).

    A file is the child's stdin as it is (the parent never holds it); bytes are written to a pipe. The
    parent unpickles the rows from the child's stdout while the child is still writing them."""
    in_memory = isinstance(source, bytes | bytearray | memoryview)
    args = [f"{key}={value}" for key, value in asdict(limits).items()]
    stopped = threading.Event()
    with tempfile.TemporaryFile() as errors, nullcontext() if in_memory else open(source, "rb") as file:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD_CODE, _ROOT, kind, *args],
            stdin=subprocess.PIPE if in_memory else file,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=_CHILD_ENV,  # none of the server's environment (keys, database URL) reaches the child
        )

        def stop() -> None:
            stopped.set()
            proc.kill()

        timer = threading.Timer(limits.seconds, stop)
        timer.daemon = True
        timer.start()
        result = None
        try:
            if in_memory:
                try:  # the child reads all of its stdin before it writes anything: no deadlock
                    proc.stdin.write(source)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            result = _unpickle(proc.stdout)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        errors.seek(0)
        detail = errors.read()[-4000:].decode("utf-8", "replace").strip()
    if stopped.is_set():
        logger.info("spreadsheet reader stopped after %s s (%s)", limits.seconds, kind)
        raise UnsafeFile(LIMIT_MESSAGE)
    if proc.returncode != 0 or result is None:
        logger.info("spreadsheet reader exited with %s (%s): %s", proc.returncode, kind, detail[-1000:])
        if proc.returncode < 0 or "MemoryError" in detail or "memory allocation" in detail:
            raise UnsafeFile(LIMIT_MESSAGE)
        logger.error("spreadsheet reader failed (exit %s): %s", proc.returncode, detail)
        raise SpreadsheetError(INTERNAL_MESSAGE)
    if result[0] == "ok":
        return result[1]
    raise _ERRORS.get(result[1], SpreadsheetError)(result[2])


def _unpickle(stream) -> tuple | None:
    enabled = gc.isenabled()
    gc.disable()  # unpickling 100,000 lists triggers collection passes that find nothing: 0.34 → 0.16 s
    try:
        return pickle.load(stream)
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, MemoryError):
        return None  # the child died while writing: its exit status says why
    finally:
        if enabled:
            gc.enable()


if __name__ == "__main__":  # pragma: no cover - the child is started with -c (see _CHILD_CODE)
    child_main()
