"""The key check value: no command and no web process runs with keys that do not match the data."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from canlian.common import crypto
from canlian.common.models import KeyCheck

OTHER_KEY = base64.b64encode(b"another-key-of-exactly-32-bytes!").decode()


@pytest.fixture
def fresh_keys():
    """Forget cached keys before and after, so overridden settings take effect and do not leak."""
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()
    yield
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()


@pytest.mark.django_db
def test_new_database_gets_a_check_value_then_matches(fresh_keys):
    assert not KeyCheck.objects.exists()
    assert crypto.keys_verify() == "created"
    row = KeyCheck.objects.get()
    assert crypto.KEY_CHECK_PLAINTEXT not in row.ciphertext  # stored encrypted
    assert crypto.keys_verify() == "ok"
    assert KeyCheck.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["CANLIAN_ENCRYPTION_KEY", "CANLIAN_INDEX_KEY"])
def test_a_different_key_is_refused(fresh_keys, which):
    crypto.keys_verify()
    with override_settings(**{which: OTHER_KEY}):
        crypto._keys.cache_clear()
        crypto._aead.cache_clear()
        with pytest.raises(crypto.KeyMismatch) as exc:
            crypto.keys_verify()
    assert "密钥与数据库不匹配" in str(exc.value)


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["CANLIAN_ENCRYPTION_KEY", "CANLIAN_INDEX_KEY"])
def test_database_from_before_the_check_is_probed(fresh_keys, make_person, which):
    make_person()  # written with the test keys, no check row yet
    assert not KeyCheck.objects.exists()
    with override_settings(**{which: OTHER_KEY}):
        crypto._keys.cache_clear()
        crypto._aead.cache_clear()
        with pytest.raises(crypto.KeyMismatch):
            crypto.keys_verify()
    assert not KeyCheck.objects.exists()  # nothing recorded for the wrong keys
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()
    assert crypto.keys_verify() == "created"


def _canlian(data_dir: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANLIAN_", "DATABASE_URL", "DJANGO_"))}
    env.update({"CANLIAN_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings.dev"})
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "canlian.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.embedded
def test_cli_refuses_a_new_key_file_next_to_an_old_database(embedded_template, embedded_copy, tmp_path):
    # given an embedded database with persons, written by the CLI with the keys.json it generated
    key_dir = Path(f"{embedded_template}-keys")
    # the keys live apart from the data: a copy of the data folder is not a copy of its keys
    assert (key_dir / "keys.json").exists() and not (embedded_template / "keys.json").exists()
    assert not (embedded_template / "secret_key").exists() and (key_dir / "secret_key").exists()
    # what the command created is for its user only
    for path in (
        key_dir / "keys.json",
        key_dir,
        key_dir / "secret_key",
        embedded_template / "canlian.sqlite3",
    ):
        assert path.stat().st_mode & 0o077 == 0, path
    data = embedded_copy()
    # when the key file is lost and a new one is generated on the next start
    Path(f"{data}-keys", "keys.json").unlink()
    out = tmp_path / "out.xlsx"
    refused = _canlian(data, "export", "persons", str(out))
    # then the command stops before doing anything, with the Chinese message and no traceback
    assert refused.returncode == 2
    assert "密钥与数据库不匹配" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists()


@pytest.mark.embedded
def test_cli_refuses_wrong_environment_keys(embedded_copy, tmp_path):
    # given the same installation run with its keys from the environment (no key file)
    data = embedded_copy()
    key_file = Path(f"{data}-keys", "keys.json")
    stored = json.loads(key_file.read_text())
    key_file.unlink()
    keys = {"CANLIAN_ENCRYPTION_KEY": stored["encryption_key"], "CANLIAN_INDEX_KEY": stored["index_key"]}
    wrong = {**keys, "CANLIAN_INDEX_KEY": base64.b64encode(os.urandom(32)).decode()}
    refused = _canlian(data, "eligibility", "11010519491231002X", "2025-07", env_extra=wrong)
    assert refused.returncode == 2 and "密钥与数据库不匹配" in refused.stderr
    assert _canlian(data, "eligibility", "11010519491231002X", "2025-07", env_extra=keys).returncode != 2


@pytest.mark.embedded
def test_a_key_file_left_in_the_data_folder_is_moved_to_the_key_folder(embedded_copy, tmp_path):
    # given an installation made before the key folder was separate (keys.json and secret_key in the data folder)
    data = embedded_copy()
    keys_dir = Path(f"{data}-keys")
    for name in ("keys.json", "secret_key"):
        (keys_dir / name).rename(data / name)
    # when any command starts, the files move to the key folder and the data still opens
    out = tmp_path / "out.xlsx"
    done = _canlian(data, "export", "persons", str(out))
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert (keys_dir / "keys.json").exists() and (keys_dir / "secret_key").exists()
    assert not (data / "keys.json").exists() and not (data / "secret_key").exists()
    assert (keys_dir / "keys.json").stat().st_mode & 0o077 == 0
