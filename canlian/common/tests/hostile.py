"""Hostile and unusual spreadsheets, built in the test: a cell at XFD1048576, a zip bomb, a sheet without a
dimension, password-protected workbooks (an OLE container with ``EncryptionInfo``, an xls with FILEPASS).

msoffcrypto-tool and olefile are not installed: the Compound File Binary container is built by hand here
(512-byte sectors, one FAT sector, one directory sector, streams of at least 4096 bytes so that none lives
in the mini stream)."""

from __future__ import annotations

import io
import struct
import zipfile

import xlsxwriter

END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dimension}<sheetData>'
)
SHEET_END = "</sheetData></worksheet>"


def xfd_xlsx() -> bytes:
    """The file of issue 10: a header row and one cell at XFD1048576 (a 5 KB xlsx; calamine would allocate
    1,048,576 × 16,384 cells = 512 GB and abort the process)."""
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = wb.add_worksheet("名单")
    ws.write_row(0, 0, ["姓名", "身份证号", "残疾人证号", "发证日期"])
    ws.write(1048575, 16383, "x")
    wb.close()
    return buffer.getvalue()


def xlsx_parts(sheet_xml: bytes | str, *, name: str = "名单", level: int = 6) -> bytes:
    """A minimal xlsx around one worksheet's XML (no dimension unless the XML has one)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK.format(name=name))
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return buffer.getvalue()


def rows_xml(rows: list[list[str]], *, dimension: str = "", refs: bool = True) -> str:
    """A worksheet's XML with inline strings; ``dimension`` e.g. ``A1:B3`` (none when empty)."""
    out = [SHEET_HEAD.format(dimension=f'<dimension ref="{dimension}"/>' if dimension else "")]
    for r, row in enumerate(rows, start=1):
        out.append(f'<row r="{r}">' if refs else "<row>")
        for c, value in enumerate(row):
            ref = f' r="{chr(65 + c)}{r}"' if refs else ""
            out.append(f'<c{ref} t="inlineStr"><is><t>{value}</t></is></c>')
        out.append("</row>")
    out.append(SHEET_END)
    return "".join(out)


def zip_bomb_xlsx(inflated: int, *, zip64: bool = True) -> bytes:
    """A valid-looking xlsx whose worksheet inflates to at least ``inflated`` bytes (about 170:1, as the
    4.7 MB file of issue 10 that unpacks to 1.17 GB)."""
    buffer = io.BytesIO()
    chunk = ('<row><c t="inlineStr"><is><t>残疾人证</t></is></c></row>' * 20000).encode()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK.format(name="名单"))
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as fh:
            fh.write(SHEET_HEAD.format(dimension="").encode())
            written = 0
            while written < inflated:
                fh.write(chunk)
                written += len(chunk)
            fh.write(SHEET_END.encode())
    return buffer.getvalue()


# ---- OLE ----------------------------------------------------------------------------------------------


def _dir_entry(name: str, kind: int, *, child: int, right: int, start: int, size: int) -> bytes:
    raw = (name + "\0").encode("utf-16-le") if name else b""
    return (
        raw.ljust(64, b"\0")
        + struct.pack("<HBBIII", len(raw), kind, 1 if kind else 0, NOSTREAM, right, child)
        + b"\0" * 36  # class id, state bits, creation and modification times
        + struct.pack("<IQ", start, size)
    )


def cfb(streams: dict[str, bytes]) -> bytes:
    """A Compound File Binary container holding up to three streams at its root."""
    items = sorted(streams.items(), key=lambda kv: (len(kv[0]), kv[0].upper()))
    assert len(items) <= 3
    fat, data, starts, next_sector = [FATSECT, END], [], [], 2
    for _, payload in items:
        payload = payload.ljust(max(4096, -(-len(payload) // 512) * 512), b"\0")
        count = len(payload) // 512
        starts.append(next_sector)
        fat += [next_sector + i + 1 for i in range(count - 1)] + [END]
        next_sector += count
        data.append(payload)
    assert len(fat) <= 128
    fat += [FREE] * (128 - len(fat))
    entries = [_dir_entry("Root Entry", 5, child=1 if items else NOSTREAM, right=NOSTREAM, start=END, size=0)]
    for i, ((name, payload), start) in enumerate(zip(items, starts, strict=True)):
        right = i + 2 if i + 1 < len(items) else NOSTREAM
        entries.append(
            _dir_entry(name, 2, child=NOSTREAM, right=right, start=start, size=max(4096, len(payload)))
        )
    while len(entries) < 4:
        entries.append(_dir_entry("", 0, child=NOSTREAM, right=NOSTREAM, start=0, size=0))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, END, 0, END, 0)
        + struct.pack("<109I", 0, *([FREE] * 108))
    )
    return header + struct.pack("<128I", *fat) + b"".join(entries) + b"".join(data)


def encrypted_xlsx() -> bytes:
    """What Excel writes for a password-protected .xlsx: an OLE container with the encrypted package."""
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"  # agile encryption, version 4.4
    return cfb({"EncryptionInfo": info, "EncryptedPackage": struct.pack("<Q", 5000) + b"\x5a" * 5000})


def _biff(rtype: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(payload)) + payload


def encrypted_xls() -> bytes:
    """A BIFF8 workbook whose globals start with BOF then FILEPASS (RC4 encryption), as Excel 97-2003 writes
    a workbook with an open password."""
    bof = _biff(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x0406))
    filepass = _biff(0x002F, struct.pack("<HHH", 1, 1, 1) + b"\x11" * 48)
    return cfb({"Workbook": bof + filepass + _biff(0x000A)})


def lie_about_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size rewritten (central directory and local header): its
    directory then promises a small part that inflates to far more."""
    out = bytearray(data)
    name = member.encode()
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if bytes(out[at + 46 : at + 46 + name_len]) == name:
            struct.pack_into("<I", out, at + 24, size)
            local = struct.unpack_from("<I", out, at + 42)[0]
            struct.pack_into("<I", out, local + 22, size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)
