"""Settings: defaults that run on one machine, a secret key generated once, never shipped."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from paperfeed.config import Settings, load_settings, secret_key
from paperfeed.errors import ConfigError


def test_defaults_put_state_under_var(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///var/paperfeed.db"
    assert settings.smtp_url is None
    assert settings.outbox_dir == Path("var/outbox")
    assert settings.hf_base_url == "https://huggingface.co"


def test_env_variables_and_the_from_alias_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERFEED_FROM", "Papers <papers@example.org>")
    monkeypatch.setenv("PAPERFEED_HF_BASE_URL", "http://127.0.0.1:9999/")
    settings = load_settings()
    assert settings.mail_from == "Papers <papers@example.org>"
    assert settings.hf_base_url == "http://127.0.0.1:9999"


def test_a_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    first = secret_key(settings)
    second = secret_key(Settings(var_dir=tmp_path / "var"))
    assert first == second
    assert len(first) >= 43
    mode = (tmp_path / "var" / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert secret_key(Settings(var_dir=tmp_path / "other")) != first


def test_a_short_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERFEED_SECRET_KEY", "changeme")
    with pytest.raises(ConfigError, match="shorter than 32"):
        secret_key(load_settings())


def test_every_setting_and_command_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        variable = "PAPERFEED_FROM" if name == "mail_from" else f"PAPERFEED_{name.upper()}"
        assert f"`{variable}`" in readme, f"{variable} is not documented in README.md"
        assert field.description, f"{name} has no description"
    from typer.main import get_command

    from paperfeed.cli import app

    group = get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        for full in (
            [f"paperfeed {name} {sub}" for sub in subcommands]
            if subcommands
            else [f"paperfeed {name}"]
        ):
            assert full in readme, f"`{full}` is not documented in README.md"


@pytest.mark.parametrize("content", ["", "\n", "short-key\n"])
def test_an_empty_or_short_key_file_is_refused_like_a_short_setting(
    tmp_path: Path, content: str
) -> None:
    # An empty key file (a full disk, a cut copy) once became the key that signs every link.
    var = tmp_path / "var"
    var.mkdir()
    (var / "secret_key").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="shorter than 32"):
        secret_key(Settings(var_dir=var))


def test_the_generated_key_lives_in_a_private_folder_and_one_key_wins_a_race(
    tmp_path: Path,
) -> None:
    import multiprocessing

    var = tmp_path / "var"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        keys = pool.map(secret_key, [Settings(var_dir=var)] * 8)
    assert len(set(keys)) == 1
    assert len(keys[0]) >= 43
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert [p.name for p in var.iterdir()] == ["secret_key"]
