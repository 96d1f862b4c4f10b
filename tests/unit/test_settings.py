import pytest
from pydantic import ValidationError

from corral.settings import load_settings, settings_problems


def test_defaults_are_safe(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    assert settings.host == "127.0.0.1"
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    assert settings.effective_public_url == "http://127.0.0.1:8420"
    assert settings.auth.login_link_ttl_seconds == 900


def test_file_then_environment_then_arguments(tmp_path, monkeypatch):
    (tmp_path / "corral.toml").write_text(
        'port = 9000\nhost = "127.0.0.2"\n[auth]\nlogin_link_ttl_seconds = 60\n'
    )
    settings = load_settings(data_dir=tmp_path)
    assert (settings.port, settings.host, settings.auth.login_link_ttl_seconds) == (
        9000,
        "127.0.0.2",
        60,
    )
    monkeypatch.setenv("CORRAL_PORT", "9001")
    monkeypatch.setenv("CORRAL_AUTH__LOGIN_LINK_TTL_SECONDS", "120")
    settings = load_settings(data_dir=tmp_path)
    assert (settings.port, settings.auth.login_link_ttl_seconds) == (9001, 120)
    assert load_settings(data_dir=tmp_path, port=9002).port == 9002


def test_the_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path))
    (tmp_path / "corral.toml").write_text("port = 9100\n")
    assert load_settings().port == 9100


@pytest.mark.parametrize("key", ["changeme", "", "c2hvcnQ="])
def test_placeholder_secret_keys_are_refused(tmp_path, key):
    with pytest.raises(ValidationError, match="32 random bytes"):
        load_settings(data_dir=tmp_path, secret_key=key)


def test_unknown_settings_are_refused(tmp_path):
    (tmp_path / "corral.toml").write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(data_dir=tmp_path)


def test_http_limits_have_defaults_and_an_http_table(tmp_path):
    defaults = load_settings(data_dir=tmp_path).http
    assert (defaults.max_request_head_bytes, defaults.max_header_count) == (65536, 100)
    assert (defaults.request_head_timeout_seconds, defaults.max_connections) == (10.0, 3840)
    (tmp_path / "corral.toml").write_text(
        "[http]\nmax_request_head_bytes = 16384\nrequest_head_timeout_seconds = 2.5\n"
    )
    configured = load_settings(data_dir=tmp_path).http
    assert (configured.max_request_head_bytes, configured.request_head_timeout_seconds) == (
        16384,
        2.5,
    )
    (tmp_path / "corral.toml").write_text("[http]\nmax_request_head_bytes = 10\n")
    with pytest.raises(ValidationError, match="max_request_head_bytes"):
        load_settings(data_dir=tmp_path)


def test_tls_makes_the_urls_https_unless_a_public_url_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("CORRAL_TLS_CERTFILE", "/etc/corral/cert.pem")
    settings = load_settings(data_dir=tmp_path, host="0.0.0.0", port=8443)  # noqa: S104
    assert settings.tls_certfile is not None and settings.tls_keyfile is None
    assert settings.effective_public_url == "https://127.0.0.1:8443"
    assert settings.local_url == "https://127.0.0.1:8443"
    public = load_settings(data_dir=tmp_path, public_url="https://corral.example.com/")
    assert public.effective_public_url == "https://corral.example.com"
    assert public.local_url == "https://127.0.0.1:8420"


def test_tls_files_come_from_the_settings_file_and_a_key_needs_its_certificate(tmp_path):
    (tmp_path / "corral.toml").write_text('tls_certfile = "cert.pem"\ntls_keyfile = "key.pem"\n')
    settings = load_settings(data_dir=tmp_path)
    assert (str(settings.tls_certfile), str(settings.tls_keyfile)) == ("cert.pem", "key.pem")
    with pytest.raises(ValidationError, match="tls_keyfile needs tls_certfile"):
        load_settings(data_dir=tmp_path / "other", tls_keyfile="key.pem")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db/corral", "postgresql+asyncpg://u:p@db/corral"),
        ("postgres://u:p@db:5433/corral", "postgresql+asyncpg://u:p@db:5433/corral"),
        ("postgresql+asyncpg://u:p@db/corral", "postgresql+asyncpg://u:p@db/corral"),
        ("sqlite:////srv/corral/corral.db", "sqlite+aiosqlite:////srv/corral/corral.db"),
    ],
)
def test_database_urls_are_used_through_the_async_drivers(tmp_path, given, used):
    """The URLs PostgreSQL's own tools print work as they are: no driver to know about."""
    settings = load_settings(data_dir=tmp_path, database_url=given)
    assert settings.effective_database_url == used


@pytest.mark.parametrize(
    "given", ["mysql://u:secret@db/corral", "postgresql+psycopg://u:secret@db/c", "db/corral"]
)
def test_other_database_urls_are_refused_without_echoing_them(tmp_path, given):
    with pytest.raises(ValidationError) as refused:
        load_settings(data_dir=tmp_path, database_url=given)
    assert "secret" not in " ".join(settings_problems(refused.value))
