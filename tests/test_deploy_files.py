"""The deployment files and the operator docs agree with the code.

No container engine runs where the tests run, so the Dockerfile is parsed as text and the compose file as YAML
(PyYAML comes with uvicorn[standard]). What can be checked against the code is: the CLI commands the image runs
and the settings the environment sets. What the docs say about these files is checked in tests/test_docs.py.
"""

import json
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import yaml  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from prism import cli
from prism.auth.weak_secrets import key_weakness
from prism.config import Settings
from prism.db.engine import async_url
from prism.production import production_refusals

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
INIT_ENV = ROOT / "deploy" / "init-env.sh"
DOCKERIGNORE = ROOT / ".dockerignore"

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a container must listen beyond its own loopback
ONE_SHOT_SERVICES = {"migrate", "minio-init"}
STATEFUL_SERVICES = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "qdrant": "/qdrant/storage"}


# --- Dockerfile, read as a list of instructions -------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def index(self, keyword: str) -> int:
        return next(i for i, (kw, _) in enumerate(self.instructions) if kw == keyword)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs, with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the build stages, with ARGs substituted into each FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in _instructions(DOCKERFILE.read_text()):
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], args)
            base, *alias = re.split(r"\s+AS\s+", image, flags=re.IGNORECASE)
            stages.append(Stage(base=base.strip(), name=alias[0].strip() if alias else None))
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def _env(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            values[name] = value
    return values


def _image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none (which means `latest`)."""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def test_the_image_is_built_in_a_builder_stage_and_runs_from_a_slim_python_stage() -> None:
    _, stages = _stages()
    builder, runtime = stages[0], stages[-1]
    assert len(stages) == 2
    assert builder.name == "builder"
    assert runtime.base.startswith("python:3.11-slim")
    assert builder.base == runtime.base, "the venv's python is a symlink into the base image: both must match"
    assert "--from=builder /opt/venv /opt/venv" in runtime.all("COPY")
    assert runtime.all("COPY") == ["--from=builder /opt/venv /opt/venv"], "the runtime holds only the venv"


def test_the_builder_installs_the_package_from_pyproject_without_an_editable_install() -> None:
    _, stages = _stages()
    builder = stages[0]
    runs = " ".join(builder.all("RUN"))
    assert builder.all("COPY")[0] == "pyproject.toml ./", "dependencies are installed before the code is copied"
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs), runs
    assert not re.search(r"pip install[^&]*\s(-e|--editable)\s", runs)


def test_the_runtime_runs_as_a_fixed_non_root_uid_set_before_its_command() -> None:
    _, stages = _stages()
    runtime = stages[-1]
    (user,) = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric UID lets runAsNonRoot verify it"
    assert int(uid) >= 1000
    assert gid.isdigit()
    assert int(gid) >= 1000
    assert runtime.index("USER") < runtime.index("CMD")
    assert any(f"--uid {uid}" in run for run in runtime.all("RUN")), "the user is created with the same UID"


def test_the_healthcheck_asks_healthz_with_python_urllib() -> None:
    _, stages = _stages()
    (healthcheck,) = stages[-1].all("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")
    assert "urllib.request" in argv[2]
    assert "http://127.0.0.1:8000/healthz" in argv[2]
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck
    assert "--start-period=" in options


def test_the_container_serves_port_8000_in_production_with_json_logs() -> None:
    _, stages = _stages()
    runtime = stages[-1]
    assert runtime.all("EXPOSE") == ["8000"]
    assert json.loads(runtime.all("CMD")[-1]) == ["prism", "serve", "--host", ALL_INTERFACES, "--port", "8000"]
    env = _env(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    settings = Settings(environment=env["PRISM_ENVIRONMENT"], log_format=env["PRISM_LOG_FORMAT"])
    assert (settings.environment, settings.log_format) == ("production", "json")


def test_the_commands_the_deployment_runs_exist_in_the_cli() -> None:
    serve = cli.main.commands["serve"]
    assert {"--host", "--port"} <= {opt for param in serve.params for opt in param.opts}
    db = cli.main.commands["db"]
    assert isinstance(db, click.Group)
    assert "upgrade" in db.commands


def test_the_build_context_lets_in_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list keeps .prism/ (database, secret key) and .env files out"
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    _, stages = _stages()
    copied = {
        source.rstrip("/")
        for args in stages[0].all("COPY")
        if not args.startswith("--from")
        for source in shlex.split(args)[:-1]
    }
    assert allowed == copied


# --- compose file -------------------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, Any]:
    return _compose()["services"]  # type: ignore[no-any-return]


class MissingVariableError(Exception):
    """Compose would refuse to start: a `${VAR:?message}` variable is unset or empty."""


def _interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """A compose value as Compose reads it with `env` as deploy/.env: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`
    (MissingVariableError when VAR is unset or empty) and `$$` for `$`."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise MissingVariableError(f"{name}: {argument}")
        return argument if operator == ":-" else ""

    substituted = re.sub(r"(?<!\$)\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", substitute, value)
    return substituted.replace("$$", "$")


def _generated_env(directory: Path) -> dict[str, str]:
    """The deploy/.env that deploy/init-env.sh writes, run on a copy of deploy/ in `directory`."""
    for name in (INIT_ENV.name, ENV_EXAMPLE.name):
        shutil.copy(COMPOSE.parent / name, directory / name)
    subprocess.run(["sh", str(directory / INIT_ENV.name)], check=True, capture_output=True)
    lines = (directory / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line))


def test_compose_serves_through_an_unprivileged_role_and_migrates_as_the_owner() -> None:
    environment = _services()["prism"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql://prism_api:")
    assert not environment["DATABASE_ADMIN_URL"].startswith("postgresql://prism_api:")


def test_compose_starts_prism_only_after_the_migrations_completed() -> None:
    services = _services()
    assert services["prism"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["command"] == ["sh", "-c", "prism db upgrade && prism db ensure-app-role prism_api"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["migrate"]["build"] == services["prism"]["build"]
    assert services["migrate"]["image"] == services["prism"]["image"]


def test_compose_builds_prism_from_the_deploy_dockerfile() -> None:
    build = _services()["prism"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_the_prism_environment_in_compose_with_generated_secrets_passes_the_production_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _generated_env(tmp_path)
    environment = _services()["prism"]["environment"]
    for name, value in {**_env(_stages()[1][-1]), **environment}.items():
        if value is not None:
            monkeypatch.setenv(name, _interpolate(str(value), env))
    settings = Settings()
    assert settings.environment == "production", "the image sets it"
    assert settings.database_url is not None
    url = make_url(async_url(settings.database_url))
    assert (url.host, url.port, url.database) == ("postgres", 5432, "prism")
    assert settings.auto_migrate is False, "migrations run once, in the migrate service"
    assert settings.secret_key is not None
    assert production_refusals(settings) == []


def test_every_dependency_waits_on_a_condition_its_target_can_meet() -> None:
    services = _services()
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "test" in services[target].get("healthcheck", {}), f"{target} has no healthcheck"
            elif condition == "service_completed_successfully":
                assert target in ONE_SHOT_SERVICES, f"{target} is not a one-shot"
                assert services[target]["restart"] == "no"
            else:
                pytest.fail(f"{name} -> {target}: use service_healthy or service_completed_successfully")


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in _services().items():
        if name in ONE_SHOT_SERVICES:
            assert service["restart"] == "no"
        elif "build" in service and "command" not in service:
            assert "healthcheck" not in service, f"{name} inherits the image's HEALTHCHECK"
            assert _stages()[1][-1].all("HEALTHCHECK")
        else:
            # Services of the PRISM image that run another command than the server (`prism worker`) answer no
            # GET /healthz: they declare a check of their own.
            test = service["healthcheck"]["test"]
            assert test[0] in ("CMD", "CMD-SHELL"), name
            assert not any(tool in " ".join(test) for tool in ("curl", "wget")), f"{name}: not in the image"


def test_every_image_is_pinned_to_an_explicit_version() -> None:
    images = [service["image"] for service in _services().values() if "build" not in service]
    images += [stage.base for stage in _stages()[1]]
    for image in images:
        tag = _image_tag(image)
        assert tag is not None, f"{image} has no tag, which means latest"
        assert tag != "latest", image
        assert re.search(r"\d", tag), f"{image}: pin a version, not a moving name"


def test_stateful_services_keep_their_data_in_named_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    for name, path in {**STATEFUL_SERVICES, "minio": "/data"}.items():
        mounts = [volume.split(":") for volume in services[name]["volumes"]]
        assert any(target == path and source in compose["volumes"] for source, target in mounts), name


SECRET_VARIABLE = re.compile(r"PASSWORD|SECRET|DATABASE_URL|DATABASE_ADMIN_URL")


def test_compose_ships_no_secret_and_refuses_to_start_without_each_one() -> None:
    defaults = re.findall(r"\$\{(\w+):-", COMPOSE.read_text())
    assert not [name for name in defaults if SECRET_VARIABLE.search(name)], "a secret with a default is published"
    required = 0
    for service in _services().values():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_VARIABLE.search(variable):
                with pytest.raises(MissingVariableError):
                    _interpolate(str(value))
                required += 1
    assert required >= 8, "the database URLs, passwords, signing key and MinIO password are all checked"


def test_every_published_port_is_on_loopback_unless_prism_bind_opens_prism() -> None:
    def host_addresses(env: dict[str, str]) -> dict[str, list[str]]:
        return {
            name: [_interpolate(port, env).rsplit(":", 2)[0] for port in service.get("ports", [])]
            for name, service in _services().items()
            if service.get("ports")
        }

    assert set(host_addresses({})) == {"prism", "postgres", "qdrant", "minio"}
    assert all(addresses == ["127.0.0.1"] for addresses in host_addresses({}).values())
    opened = host_addresses({"PRISM_BIND": ALL_INTERFACES})
    assert opened.pop("prism") == [ALL_INTERFACES]
    assert all(addresses == ["127.0.0.1"] for addresses in opened.values()), "the databases stay on loopback"


def test_init_env_fills_every_secret_with_a_fresh_strong_value_and_never_overwrites(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    env, other = _generated_env(first), _generated_env(second)
    secrets = {name: value for name, value in env.items() if SECRET_VARIABLE.search(name)}
    assert set(secrets) == {"POSTGRES_PASSWORD", "PRISM_APP_ROLE_PASSWORD", "PRISM_SECRET_KEY", "MINIO_ROOT_PASSWORD"}
    assert all(key_weakness(value) is None for value in secrets.values())
    assert len(set(secrets.values())) == len(secrets), "each secret is its own"
    assert all(other[name] != value for name, value in secrets.items()), "each run makes new ones"
    assert {name: value for name, value in env.items() if name not in secrets} == {
        name: value for name, value in other.items() if name not in secrets
    }
    assert stat.S_IMODE((first / ".env").stat().st_mode) == 0o600

    before = (first / ".env").read_text()
    again = subprocess.run(["sh", str(first / INIT_ENV.name)], capture_output=True, text=True)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert (first / ".env").read_text() == before


def test_the_env_example_names_every_variable_compose_reads() -> None:
    referenced = set(re.findall(r"(?<!\$)\$\{(\w+)", COMPOSE.read_text()))
    example = {
        line.lstrip("# ").split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"^#? ?[A-Z][A-Z0-9_]*=", line)
    }
    assert referenced <= example, referenced - example


def test_prism_gets_longer_to_stop_than_uvicorn_takes_to_drain() -> None:
    drain = _services()["prism"].get("environment", {}).get("PRISM_SHUTDOWN_GRACE_SECONDS")
    settings = Settings(shutdown_grace_seconds=drain) if drain is not None else Settings()
    drain_seconds = cli.server_options(settings)["timeout_graceful_shutdown"]
    grace = re.fullmatch(r"(\d+)s", _services()["prism"]["stop_grace_period"])
    assert grace is not None
    assert int(grace.group(1)) > drain_seconds
