"""Files that would take the server down: refused before the parse with a message naming the limit and the
value found, and parsed in a child process so that what slips past the checks kills only the child."""

from __future__ import annotations

import io
import logging
import os
import zipfile

import pytest
import xlsxwriter
import xlwt

from canlian.common import safe_read, spreadsheet
from canlian.common.safe_read import LIMIT_MESSAGE, PASSWORD_MESSAGE, PasswordProtected, UnsafeFile
from canlian.common.spreadsheet import SpreadsheetError

from .hostile import (
    cfb,
    encrypted_xls,
    encrypted_xlsx,
    lie_about_size,
    rows_xml,
    xfd_xlsx,
    xlsx_parts,
    zip_bomb_xlsx,
)

ALIASES = {"name": ("姓名",), "id_number": ("身份证号",)}
XFD_MESSAGE = "工作表“名单”声明的范围 A1:XFD1048576 到第 1,048,576 行，超过上限 200,000 行"


def _table(source, **kwargs):
    return spreadsheet.read_table(
        source, aliases=ALIASES, filename=kwargs.pop("filename", "a.xlsx"), **kwargs
    )


def _xlsx(rows: int, columns: int = 2) -> bytes:
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = wb.add_worksheet("名单")
    ws.write_row(0, 0, ["姓名", "身份证号", *[f"列{c}" for c in range(2, columns)]])
    for r in range(1, rows):
        ws.write_row(r, 0, [f"张{r}", f"{r:018d}", *["x"] * (columns - 2)])
    wb.close()
    return buffer.getvalue()


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory):
    """A 1.4 MB xlsx that inflates to 250 MB (over the 200 MB default)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    path.write_bytes(zip_bomb_xlsx(250 * 1024 * 1024))
    return path


# ---- the defaults ---------------------------------------------------------------------------------------


def test_defaults_come_from_the_settings(settings):
    limits = safe_read.upload_limits()
    assert (limits.max_bytes, limits.max_rows, limits.max_columns, limits.max_cells) == (
        50 * 1024 * 1024,
        200_000,
        1_000,
        20_000_000,
    )
    assert (limits.max_uncompressed, limits.max_ratio, limits.memory, limits.seconds) == (
        200 * 1024 * 1024,
        100,
        2 * 1024**3,
        120,
    )
    settings.CANLIAN_UPLOAD_MAX_ROWS = 7
    assert safe_read.upload_limits().max_rows == 7


# ---- the cell at XFD1048576 ---------------------------------------------------------------------------


def test_a_cell_at_xfd1048576_is_refused_by_its_declared_dimension(tmp_path):
    data = xfd_xlsx()
    assert len(data) < 6000
    with pytest.raises(UnsafeFile) as refused:
        _table(data)
    assert refused.value.message == XFD_MESSAGE
    path = tmp_path / "a.xlsx"
    path.write_bytes(data)
    with pytest.raises(UnsafeFile, match="A1:XFD1048576"):
        spreadsheet.upload_check(path, filename="a.xlsx")


def test_the_xfd_file_past_the_checks_kills_only_the_child(settings, caplog):
    # Given limits so high that the checks let the file through to calamine
    settings.CANLIAN_UPLOAD_MAX_ROWS = 2_000_000
    settings.CANLIAN_UPLOAD_MAX_COLUMNS = 20_000
    settings.CANLIAN_UPLOAD_MAX_CELLS = 10**12
    parent = os.getpid()
    # When it is read, calamine asks for 512 GB in the child, the child aborts…
    with caplog.at_level(logging.INFO, logger="canlian.common.safe_read"):
        with pytest.raises(UnsafeFile) as refused:
            _table(xfd_xlsx())
    # …and this process gets the clean message, and goes on reading
    assert refused.value.message == LIMIT_MESSAGE
    assert os.getpid() == parent
    assert "spreadsheet reader exited with -6" in caplog.text  # SIGABRT, in the child
    assert [cells[:2] for _, cells in _table(_xlsx(3)).rows] == [
        ["张1", "000000000000000001"],
        ["张2", "000000000000000002"],
    ]


def test_a_child_over_a_very_low_memory_limit_leaves_the_caller_alive(settings):
    settings.CANLIAN_UPLOAD_READ_MEMORY_BYTES = 16 * 1024 * 1024  # below what the interpreter needs
    data = _xlsx(20_000, columns=6)
    with pytest.raises(UnsafeFile) as refused:
        _table(data)
    assert refused.value.message == LIMIT_MESSAGE
    settings.CANLIAN_UPLOAD_READ_MEMORY_BYTES = 2 * 1024**3
    assert len(_table(data).rows) == 19_999


def test_a_child_over_the_time_limit_is_stopped(settings):
    settings.CANLIAN_UPLOAD_READ_SECONDS = 0.01
    with pytest.raises(UnsafeFile) as refused:
        _table(_xlsx(3))
    assert refused.value.message == LIMIT_MESSAGE


# ---- zip bombs ------------------------------------------------------------------------------------------


def test_zip_bomb_is_refused_from_its_directory_before_anything_is_inflated(zip_bomb):
    assert zip_bomb.stat().st_size < 3 * 1024 * 1024
    with pytest.raises(UnsafeFile) as refused:
        _table(zip_bomb)
    assert refused.value.message == (
        "文件解压后共 250.6 MB，超过上限 200.0 MB（可能是异常的压缩文件）；请分成几个文件上传"
    )


def test_a_part_compressed_over_the_ratio_is_refused(settings):
    settings.CANLIAN_UPLOAD_MAX_UNCOMPRESSED_BYTES = 10**12
    data = zip_bomb_xlsx(5 * 1024 * 1024)
    with pytest.raises(UnsafeFile) as refused:
        _table(data)
    assert refused.value.message.startswith("文件中的部件“xl/worksheets/sheet1.xml”压缩比为 ")
    assert refused.value.message.endswith(":1，超过上限 100:1（可能是异常的压缩文件）")
    settings.CANLIAN_UPLOAD_MAX_COMPRESSION_RATIO = 100_000
    with pytest.raises(SpreadsheetError, match="未找到表头"):  # inflates fine, it just has no header
        _table(data)


def test_a_part_that_inflates_to_more_than_it_declares_is_counted_at_its_real_size(settings):
    # Given a sheet (no dimension) whose zip directory says 20,000 bytes but which inflates to 4 MB
    settings.CANLIAN_UPLOAD_MAX_UNCOMPRESSED_BYTES = 3 * 1024 * 1024
    settings.CANLIAN_UPLOAD_MAX_COMPRESSION_RATIO = 100_000
    bomb = zip_bomb_xlsx(4 * 1024 * 1024, zip64=False)
    data = lie_about_size(bomb, "xl/worksheets/sheet1.xml", 20_000)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size == 20_000
    # When it is read, the scan counts what really comes out
    with pytest.raises(UnsafeFile) as refused:
        _table(data)
    assert refused.value.message == "文件解压后超过 3.0 MB 的上限（可能是异常的压缩文件）；请分成几个文件上传"
    # A lie that small reads end at the promised size: the check sum fails and the file is damaged
    with pytest.raises(SpreadsheetError) as refused:
        _table(lie_about_size(bomb, "xl/worksheets/sheet1.xml", 1000))
    assert (
        refused.value.message == "文件已损坏，无法读取（压缩结构不完整或校验失败）；请用 Excel 打开后重新保存"
    )


def test_too_many_zip_members_are_refused_before_the_directory_is_read(settings):
    settings.CANLIAN_UPLOAD_MAX_ZIP_MEMBERS = 5
    buffer = io.BytesIO(xlsx_parts(rows_xml([["姓名", "身份证号"], ["张三", "1"]])))
    with zipfile.ZipFile(buffer, "a") as zf:
        zf.writestr("docProps/extra.xml", "<x/>")
    with pytest.raises(UnsafeFile) as refused:
        _table(buffer.getvalue())
    assert refused.value.message == "压缩结构异常：文件内含 6 个部件，超过上限 5 个"


# ---- rows, columns, cells: the boundaries -------------------------------------------------------------


def test_rows_at_the_limit_pass_and_one_more_is_refused(settings):
    settings.CANLIAN_UPLOAD_MAX_ROWS = 10
    assert len(_table(_xlsx(10)).rows) == 9  # 10 rows = header + 9
    with pytest.raises(UnsafeFile) as refused:
        _table(_xlsx(11))
    assert refused.value.message == "工作表“名单”声明的范围 A1:B11 到第 11 行，超过上限 10 行"


def test_rows_of_a_sheet_without_dimension_are_counted(settings):
    settings.CANLIAN_UPLOAD_MAX_ROWS = 10
    rows = [["姓名", "身份证号"]] + [[f"张{r}", str(r)] for r in range(1, 11)]
    for refs in (True, False):  # with and without cell references (both are valid xlsx)
        with pytest.raises(UnsafeFile) as refused:
            _table(xlsx_parts(rows_xml(rows, refs=refs)))
        assert refused.value.message == "工作表“名单”有 11 行，超过上限 10 行；请分成几个文件上传"
    assert len(_table(xlsx_parts(rows_xml(rows[:10]))).rows) == 9


def test_a_dimension_far_smaller_than_the_sheet_is_not_trusted(settings):
    settings.CANLIAN_UPLOAD_MAX_ROWS = 5_000
    rows = [["姓名", "身份证号"]] + [[f"张{r}", str(r)] for r in range(1, 6000)]
    with pytest.raises(UnsafeFile) as refused:
        _table(xlsx_parts(rows_xml(rows, dimension="A1:B2")))
    assert refused.value.message == "工作表“名单”有 6,000 行，超过上限 5,000 行；请分成几个文件上传"


def test_columns_and_cells(settings):
    settings.CANLIAN_UPLOAD_MAX_COLUMNS = 4
    assert _table(_xlsx(2, columns=4)).width == 4
    with pytest.raises(UnsafeFile) as refused:
        _table(_xlsx(2, columns=5))
    assert refused.value.message == "工作表“名单”声明的范围 A1:E2 有 5 列（到 E 列），超过上限 4 列"
    settings.CANLIAN_UPLOAD_MAX_COLUMNS = 1_000
    settings.CANLIAN_UPLOAD_MAX_CELLS = 11
    with pytest.raises(UnsafeFile) as refused:
        _table(_xlsx(4, columns=3))
    assert refused.value.message == (
        "工作表“名单”声明的范围 A1:C4 共 4 行 × 3 列 = 12 个单元格，超过上限 11 个单元格"
    )


def test_xls_rows_are_checked_after_the_parse_in_the_child(settings):
    settings.CANLIAN_UPLOAD_MAX_ROWS = 10
    wb = xlwt.Workbook()
    ws = wb.add_sheet("名单")
    for r in range(11):
        ws.write(r, 0, "姓名" if r == 0 else f"张{r}")
        ws.write(r, 1, "身份证号" if r == 0 else str(r))
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(UnsafeFile) as refused:
        _table(buffer.getvalue(), filename="a.xls")
    assert refused.value.message == "工作表“名单”有 11 行，超过上限 10 行；请分成几个文件上传"


def test_csv_rows_and_columns_are_counted_while_reading(settings):
    settings.CANLIAN_UPLOAD_MAX_ROWS = 10
    settings.CANLIAN_UPLOAD_MAX_COLUMNS = 3
    ok = "姓名,身份证号\n" + "".join(f"张{r},{r}\n" for r in range(1, 10))
    assert len(_table(ok.encode(), filename="a.csv").rows) == 9
    with pytest.raises(UnsafeFile) as refused:
        _table((ok + "张10,10\n张11,11\n").encode(), filename="a.csv")
    assert refused.value.message == "CSV 文件有 12 行，超过上限 10 行；请分成几个文件上传"
    with pytest.raises(UnsafeFile) as refused:
        _table("姓名,身份证号\n张三,1,x,y\n".encode(), filename="a.csv")
    assert refused.value.message == "CSV 文件第 2 行有 4 列，超过上限 3 列"


def test_file_size(settings, tmp_path):
    settings.CANLIAN_UPLOAD_MAX_BYTES = 1000
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xe5\xa7\x93\xe5\x90\x8d,x\n" + b"a,b\n" * 300)
    with pytest.raises(UnsafeFile) as refused:
        spreadsheet.upload_check(path, filename="a.csv")
    assert refused.value.message == "文件过大：0.0 MB，单个文件不能超过 0.0 MB"
    assert safe_read.size_error(1000, safe_read.upload_limits()) == ""
    assert safe_read.size_error(3 * 1024 * 1024, safe_read.Limits()) == ""
    assert safe_read.size_error(51 * 1024 * 1024, safe_read.Limits()) == (
        "文件过大：51.0 MB，单个文件不能超过 50.0 MB"
    )


# ---- passwords ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [encrypted_xlsx, encrypted_xls], ids=["xlsx-in-ole", "xls-filepass"])
def test_password_protected_workbooks_get_their_own_message(build, tmp_path):
    data = build()
    with pytest.raises(PasswordProtected) as refused:
        _table(data, filename="a.xlsx")
    assert refused.value.message == PASSWORD_MESSAGE == "文件设置了密码，请在 Excel 中取消密码后再上传"
    path = tmp_path / "a.xls"
    path.write_bytes(data)
    with pytest.raises(PasswordProtected):
        spreadsheet.upload_check(path, filename="a.xls")


def test_an_ordinary_ole_file_is_not_taken_for_an_encrypted_one():
    assert safe_read.ole_stream_names(io.BytesIO(encrypted_xlsx())) == {
        "Root Entry",
        "EncryptionInfo",
        "EncryptedPackage",
    }
    plain = cfb({"Workbook": b"\x09\x08\x10\x00" + b"\0" * 16 + b"\x0a\x00\x00\x00"})
    assert not safe_read.is_encrypted_ole(plain)
    wb = xlwt.Workbook()
    wb.add_sheet("名单").write(0, 0, "姓名")
    buffer = io.BytesIO()
    wb.save(buffer)
    assert not safe_read.is_encrypted_ole(buffer.getvalue())
    assert not safe_read.is_encrypted_ole(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600)  # broken


# ---- the child's answers -----------------------------------------------------------------------------


def test_rows_come_back_exactly_as_read_in_process():
    data = _xlsx(50, columns=4)
    limits = safe_read.Limits()
    assert safe_read.read_isolated(data, kind="xlsx", limits=limits) == safe_read.parse_sheets(
        data, "xlsx", limits
    )


def test_a_failure_inside_the_child_is_an_internal_error_not_a_crash(monkeypatch, caplog):
    monkeypatch.setattr(safe_read, "_CHILD_CODE", "raise SystemExit('boom')")
    with caplog.at_level(logging.ERROR, logger="canlian.common.safe_read"):
        with pytest.raises(SpreadsheetError) as refused:
            _table(_xlsx(3))
    assert refused.value.message == "读取文件时发生内部错误，未写入任何数据；请联系管理员（已记录日志）"
    assert "boom" in caplog.text
