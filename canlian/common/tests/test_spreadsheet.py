"""Reading and writing spreadsheets: formats by content, encodings, header detection, clear errors."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest
import xlsxwriter
import xlwt
from python_calamine import CalamineWorkbook

from canlian.common import spreadsheet
from canlian.common.spreadsheet import SpreadsheetError

ALIASES = {
    "name": ("姓名", "名字"),
    "id_number": ("身份证号", "身份证号码", "证件号码"),
    "town": ("镇(街道)", "街道", "镇"),
    "issue_date": ("发证日期",),
}
REQUIRED = {"name": "姓名", "id_number": "身份证号"}


def _xlsx(rows: list[list], *, start_row: int = 0, sheets: tuple[str, ...] = ("名单",)) -> bytes:
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name in sheets:
        ws = wb.add_worksheet(name)
        if name != sheets[-1]:
            ws.write(0, 0, "说明")
            continue
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, date):
                    ws.write_datetime(
                        start_row + r, c, datetime.combine(value, datetime.min.time()), date_fmt
                    )
                elif value is not None:
                    ws.write(start_row + r, c, value)
    wb.close()
    return buffer.getvalue()


def _ods(rows: list[list[str]]) -> bytes:
    cells = "".join(
        "<table:table-row>"
        + "".join(
            f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>'
            for v in row
        )
        + "</table:table-row>"
        for row in rows
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="名单">{cells}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content)
        zf.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
    return buffer.getvalue()


# ---- formats and encodings -----------------------------------------------------------------------------


def test_xlsx_keeps_cells_as_read_and_numbers_rows_like_excel():
    # Given a title row, a header on row 3 and an ID Excel stored as a number
    data = _xlsx(
        [
            ["吴中区残疾人名单"],
            [],
            ["姓名", "身份证号", "发证日期"],
            ["张三", 3.20506199001011e17, date(2019, 5, 6)],
        ]
    )

    # When it is read
    table = spreadsheet.read_table(data, aliases=ALIASES, required=REQUIRED, filename="a.xlsx")

    # Then the header is found on Excel row 3, the data row is row 4 and the ID stays a float
    assert (table.format, table.sheet, table.header_row) == ("xlsx", "名单", 3)
    assert table.columns == {"name": 0, "id_number": 1, "issue_date": 2}
    assert table.rows == [(4, ["张三", 3.20506199001011e17, date(2019, 5, 6)])]
    assert isinstance(table.rows[0][1][1], float)


def test_header_on_a_later_sheet_and_blank_rows_are_skipped():
    data = _xlsx(
        [["姓名", "证件号码"], ["张三", "x"], [None, None], ["李四", "y"]], sheets=("说明页", "数据")
    )
    table = spreadsheet.read_table(data, aliases=ALIASES, required=REQUIRED)
    assert table.sheet == "数据"
    assert [r for r, _cells in table.rows] == [2, 4]


def test_xls_written_with_xlwt(tmp_path):
    book = xlwt.Workbook()
    sheet = book.add_sheet("名单")
    for c, value in enumerate(["姓名", "身份证号码", "发证日期"]):
        sheet.write(0, c, value)
    sheet.write(1, 0, "张三")
    sheet.write(1, 1, "320506199001011234")
    sheet.write(1, 2, date(2019, 5, 6), xlwt.easyxf(num_format_str="yyyy-mm-dd"))
    path = tmp_path / "名单.xls"
    book.save(str(path))

    table = spreadsheet.read_table(path, aliases=ALIASES, required=REQUIRED)

    assert table.format == "xls"
    assert table.rows == [(2, ["张三", "320506199001011234", date(2019, 5, 6)])]


def test_ods_is_read():
    table = spreadsheet.read_table(
        _ods([["姓名", "身份证号"], ["张三", "320506199001011234"]]), aliases=ALIASES
    )
    assert table.format == "ods"
    assert table.rows == [(2, ["张三", "320506199001011234"])]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("gbk", b""), ("gb18030", b""), ("utf-16", b"")],
)
def test_csv_encodings(tmp_path, encoding, bom):
    text = "姓名,身份证号,镇(街道)\r\n张三,320506199001011234,甪直镇\r\n"
    path = tmp_path / "名单.csv"
    path.write_bytes(bom + text.encode(encoding))

    table = spreadsheet.read_table(path, aliases=ALIASES, required=REQUIRED)

    assert table.format == "csv"
    assert table.headers == ["姓名", "身份证号", "镇(街道)"]
    assert table.rows == [(2, ["张三", "320506199001011234", "甪直镇"])]


def test_csv_with_tabs_and_excel_number_text(tmp_path):
    path = tmp_path / "名单.txt"
    path.write_text("姓名\t身份证号\n张三\t3.20506E+17\n", encoding="utf-8")
    table = spreadsheet.read_table(path, aliases=ALIASES)
    assert table.rows == [(2, ["张三", "3.20506E+17"])]


# ---- header matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        (" 镇（街道） ", "town"),
        ("镇(街道)*", "town"),
        ("镇／街道", "town"),
        ("街道", "town"),
        ("身份证号码（必填）", "id_number"),
        ("证件号码", "id_number"),
        ("姓  名", "name"),
        ("名字", "name"),
    ],
)
def test_headers_match_tolerantly(header, key):
    assert spreadsheet.match_headers(["x", header], ALIASES) == {key: 1}


def test_first_matching_column_wins():
    assert spreadsheet.match_headers(["姓名", "身份证号", "证件号码"], ALIASES) == {"name": 0, "id_number": 1}


def test_normalize_header():
    assert spreadsheet.normalize_header("【镇（街道）】（必填）") == "镇街道"
    assert spreadsheet.normalize_header(None) == ""


# ---- what cannot be read -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.xlsx", b"", "文件为空（0 字节）"),
        ("a.xlsx", b"%PDF-1.7\n...", "这是PDF 文档，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件"),
        (
            "a.xlsx",
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "这是PNG 图片，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件",
        ),
        (
            "a.xlsx",
            "姓名,身份证号\n".encode(),
            "文件扩展名为 .xlsx，但内容不是 Excel 文件（可能是改了扩展名的文本文件）",
        ),
        ("a.docx", b"hello", "不支持的文件类型“.docx”；请上传 .xlsx、.xls、.ods 或 .csv 文件"),
        ("a.xls", b"<html><table><tr><td>1</td></tr></table></html>", "这是网页或 XML 格式的文件"),
        (
            "a.xlsx",
            b"PK\x03\x04garbage-not-a-zip",
            "文件已损坏，无法读取（压缩结构不完整）；请用 Excel 打开后重新保存",
        ),
        ("a.csv", b"\x00\x01\x02\x03binary", "无法识别的文件类型（不是 Excel、WPS 表格或 CSV 文件）"),
    ],
)
def test_unusable_files_raise_a_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(path, aliases=ALIASES)
    assert exc.value.message.startswith(message)


def test_word_document_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(buffer.getvalue(), aliases=ALIASES, filename="a.xlsx")
    assert exc.value.message == "这是 Word 文档，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件"


def test_ole_file_that_is_not_a_workbook():
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, aliases=ALIASES)
    assert exc.value.message.startswith("文件已损坏或格式不正确，无法读取")


def test_missing_file(tmp_path):
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(tmp_path / "nope.xlsx", aliases=ALIASES)
    assert exc.value.message == "找不到文件：nope.xlsx"


def test_sheet_without_any_data():
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(_xlsx([]), aliases=ALIASES)
    assert exc.value.message == "文件中没有任何数据"


def test_header_only():
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(_xlsx([["姓名", "身份证号"]]), aliases=ALIASES)
    assert exc.value.message == "工作表“名单”只有表头（第1行），没有数据行"


def test_no_header_found():
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(_xlsx([["甲", "乙"], ["1", "2"]]), aliases=ALIASES)
    assert (
        exc.value.message
        == "未找到表头：前20行中没有 “姓名”、“身份证号”、“镇(街道)”、“发证日期” 等列名（请使用导入模板）"
    )


def test_missing_required_column():
    with pytest.raises(SpreadsheetError) as exc:
        spreadsheet.read_table(
            _xlsx([["姓名", "街道"], ["张三", "甪直镇"]]), aliases=ALIASES, required=REQUIRED
        )
    assert exc.value.message == "工作表“名单”第1行的表头缺少必需的列：身份证号（请使用导入模板）"


# ---- writing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("constant_memory", [False, True])
def test_xlsx_book_writes_text_as_text_dates_as_dates_and_flags_cells(tmp_path, constant_memory):
    path = tmp_path / "out.xlsx"
    with spreadsheet.XlsxBook(path, constant_memory=constant_memory) as book:
        sheet = book.add_sheet("结果", ["姓名", "身份证号", "日期", "数量"], text_columns=[1])
        sheet.append(["=1+1", "320506199001011234", date(2019, 5, 6), 3], flagged=[1], comments={1: "错误"})
        book.add_sheet("明细", ["行号"]).append([2])

    wb = CalamineWorkbook.from_path(str(path))
    rows = wb.get_sheet_by_name("结果").to_python()
    assert rows == [["姓名", "身份证号", "日期", "数量"], ["=1+1", "320506199001011234", date(2019, 5, 6), 3]]
    assert wb.get_sheet_by_name("明细").to_python() == [["行号"], [2]]
    with zipfile.ZipFile(path) as zf:
        assert any(n.startswith("xl/comments") for n in zf.namelist())
        sheet_xml = zf.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # a cell starting with "=" is text, never a formula


def test_write_xlsx_to_a_buffer():
    buffer = io.BytesIO()
    assert spreadsheet.write_xlsx(buffer, ["a"], [[1], ["x"]], sheet="S") == 2
    assert CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue())).get_sheet_by_name(
        "S"
    ).to_python() == [
        ["a"],
        [1],
        ["x"],
    ]


def test_column_letter():
    assert [spreadsheet.column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]
