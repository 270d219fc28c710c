"""docker-compose.yml, the Dockerfile, config/ and the Procfile agree with the code.

Every service's command is parsed by the real CLI (``dialer.cli.main``), every ``DIALER_*``
variable named is a setting documented in ``config/.env.example``, and that file loads
as it is. ``docker compose config -q`` checks the file when the compose plugin (or the
standalone ``docker-compose``) is installed; no Docker engine is needed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest

from dialer.cli import main
from dialer.flower_cli import BASIC_AUTH_ENV, CONF_ENV
from dialer.settings import ENV_PREFIX, Settings, load_settings
from tests.stack import ROOT

yaml = pytest.importorskip("yaml")

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "config" / ".env.example"
REDIS_CONF = ROOT / "config" / "redis.conf"
DOCKERFILE = ROOT / "Dockerfile"
PROCFILE = ROOT / "Procfile"
SETTING_VARS = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
FLOWER_VARS = {BASIC_AUTH_ENV, CONF_ENV}  # read by `dialer flower`, not by Settings
DIALER_VAR = re.compile(r"\bDIALER_[A-Z0-9_]+\b")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def documented_vars() -> dict[str, str | None]:
    """``DIALER_*`` variables of .env.example: value, or None for a commented-out line."""
    found: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if m := re.match(r"^(#\s*)?(DIALER_[A-Z0-9_]+)=(.*)$", line):
            found[m.group(2)] = None if m.group(1) else m.group(3)
    return found


def check_cli(args: list[str]) -> click.Context:
    """Parse ``dialer ARGS`` as the CLI would, without running the command."""
    assert args and args[0] == "dialer", args
    root = click.Context(main, info_name="dialer")
    name, *rest = args[1:]
    command = main.get_command(root, name)
    assert command is not None, f"`dialer {name}` is not a command of the CLI"
    return command.make_context(name, rest, parent=root)


# --- compose -------------------------------------------------------------------------

def test_the_services_are_there() -> None:
    assert set(services()) == {"redis", "worker", "beat", "web", "flower", "simulator"}


@pytest.mark.parametrize("name", ["worker", "beat", "web", "flower", "simulator"])
def test_each_command_is_accepted_by_the_cli(name: str) -> None:
    service = services()[name]
    command = service["command"]
    assert isinstance(command, list), "exec form: signals reach the process"
    ctx = check_cli(command)
    assert ctx.command.name == command[1]


def test_the_options_that_matter() -> None:
    s = services()
    assert check_cli(s["web"]["command"]).params["host"] == "0.0.0.0"
    assert check_cli(s["web"]["command"]).params["port"] == 8000
    assert check_cli(s["flower"]["command"]).params["address"] == "0.0.0.0"
    assert check_cli(s["flower"]["command"]).params["port"] == 5555
    assert check_cli(s["simulator"]["command"]).params["host"] == "0.0.0.0"
    assert "8000:8000" in s["web"]["ports"]
    assert "5555:5555" in s["flower"]["ports"]


def test_one_image_for_every_dialer_service() -> None:
    for name, service in services().items():
        if name == "redis":
            continue
        assert service["build"] in (".", {"context": "."}), name
        assert service["env_file"] in ("config/.env", ["config/.env"]), name
        assert service["environment"]["DIALER_REDIS_URL"] == "redis://redis:6379/0", name


def test_workers_scale_and_so_does_the_leased_scheduler() -> None:
    s = services()
    assert "container_name" not in s["worker"] and "ports" not in s["worker"]
    # several schedulers, one leader (dialer.scheduler.LeaseScheduler, the app's default)
    assert s["beat"]["deploy"]["replicas"] >= 2
    assert "container_name" not in s["beat"] and "ports" not in s["beat"]
    assert not {"-S", "--scheduler"} & set(s["beat"]["command"])
    assert s["simulator"]["profiles"] == ["dev"]
    assert all("dev" not in svc.get("profiles", []) for n, svc in s.items() if n != "simulator")


def test_redis_persists_and_never_evicts() -> None:
    redis = services()["redis"]
    assert redis["image"].split(":")[1].startswith("7")
    assert "ports" not in redis, "Redis has no password: never publish its port"
    conf = " ".join(redis["command"])
    assert "/usr/local/etc/redis/redis.conf" in conf
    assert "./config/redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "redis-data" in compose()["volumes"]
    directives = {}
    for line in REDIS_CONF.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            directives[key] = value
    assert directives["appendonly"] == "yes"
    assert directives["maxmemory-policy"] == "noeviction"
    assert directives["dir"] == "/data"


# --- settings ------------------------------------------------------------------------

def test_every_variable_compose_names_is_a_documented_setting() -> None:
    named = set(DIALER_VAR.findall(COMPOSE.read_text()))
    assert named, "docker-compose.yml names DIALER_REDIS_URL at least"
    assert named <= SETTING_VARS | FLOWER_VARS, named - SETTING_VARS - FLOWER_VARS
    assert named <= set(documented_vars()), named - set(documented_vars())


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    documented = set(documented_vars())
    missing = SETTING_VARS - documented
    assert not missing, f"settings missing from config/.env.example: {sorted(missing)}"
    unknown = documented - SETTING_VARS - FLOWER_VARS
    assert not unknown, f"config/.env.example names variables that are no setting: {unknown}"
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):  # each variable has a comment line above it
        if DIALER_VAR.match(line.lstrip("# ")) and "=" in line:
            assert lines[i - 1].startswith("#"), line


def test_env_example_loads_as_it_is(clean_env: Path) -> None:
    (clean_env / ".env").write_text(ENV_EXAMPLE.read_text())
    settings = load_settings()
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        if name != "accounts":
            assert getattr(settings, name) == getattr(defaults, name), name
    (account,) = settings.accounts
    assert account.api_token.get_secret_value().startswith("REPLACE_ME")
    # Secrets are placeholders, never values that work.
    for var in ("DIALER_API_TOKEN", "DIALER_CALLBACK_SECRET", BASIC_AUTH_ENV):
        assert documented_vars()[var] == "", var


def test_compose_config_is_valid(tmp_path: Path) -> None:
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        tool = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        tool = ["docker-compose"]
    else:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(DOCKERFILE, tmp_path / "Dockerfile")
    (tmp_path / "config").mkdir()
    shutil.copy(REDIS_CONF, tmp_path / "config" / "redis.conf")
    shutil.copy(ENV_EXAMPLE, tmp_path / "config" / ".env")
    for profile in ([], ["--profile", "dev"]):
        done = subprocess.run([*tool, *profile, "config", "-q"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


# --- Dockerfile and Procfile ---------------------------------------------------------

def test_the_dockerfile_installs_the_package_and_runs_unprivileged() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert lines[[i for i, x in enumerate(lines) if x and not x.startswith("#")][0]] == (
        "FROM python:3.11-slim")
    assert "RUN pip install --no-deps -c constraints.txt ." in lines
    users = [x.split()[1] for x in lines if x.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", "config/.env", ".venv", ".git"} <= set(ignored)


def _expand_defaults(command: str) -> str:
    """``${NAME:-default}`` → ``default``, as the shell does when NAME is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", command)


def test_each_procfile_command_is_accepted_by_the_cli() -> None:
    seen = []
    for line in PROCFILE.read_text().splitlines():
        if not (m := re.match(r"^([a-z]+):\s*(.+)$", line)):
            continue
        command = _expand_defaults(m.group(2)).split("&&")[-1]
        args = shlex.split(command)
        if args[0] == "exec":
            args = args[1:]
        check_cli(args)
        seen.append(m.group(1))
    assert seen == ["web", "worker", "beat", "flower"]
