"""Static checks of the deployment files in deploy/.

Plain pytest: no Django, no database, no Docker daemon. The files are parsed
(PyYAML, tomllib) and their operational promises asserted: non-root images,
health checks, probes, one beat, audit shipping.
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING_APP_SERVICES = ("web", "worker", "beat")
APP_UID = 10001
# The writable scratch directory the manifests must provide; this module writes nothing there.
SCRATCH_DIR = "/tmp"  # noqa: S108


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    text = (DEPLOY / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    instructions = []
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def runtime_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the instructions of the last stage, the one that becomes the image."""
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def k8s_documents() -> list[dict]:
    """Return every Kubernetes object of deploy/k8s, the kustomization excluded."""
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def objects_of_kind(kind: str) -> list[dict]:
    return [doc for doc in k8s_documents() if doc["kind"] == kind]


def by_name(kind: str, name: str) -> dict:
    matches = [doc for doc in objects_of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} named {name}, found {len(matches)}"
    return matches[0]


def pod_containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def vector() -> dict:
    with (DEPLOY / "vector" / "vector.toml").open("rb") as handle:
        return tomllib.load(handle)


# ---------------------------------------------------------------------------
# Dockerfile and .dockerignore
# ---------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim():
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    assert all(args.startswith("python:3.11-slim") for args in froms)
    assert froms[0].endswith("AS builder")


def test_dockerfile_builds_wheels_in_builder_and_installs_them_without_cache():
    instructions = dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any("pip wheel" in run and "requirements/prod.txt" in run for run in runs)
    runtime_runs = [args for keyword, args in runtime_stage(instructions) if keyword == "RUN"]
    assert any(
        "pip install --no-cache-dir" in run and "-r requirements/prod.txt" in run
        for run in runtime_runs
    )


def test_dockerfile_runs_as_non_root_user_10001():
    runtime = runtime_stage(dockerfile_instructions())
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    final_user = users[-1].split(":")[0]
    assert final_user not in {"root", "0"}
    assert final_user in {str(APP_UID), "cloudpam"}
    assert any(keyword == "RUN" and f"--uid {APP_UID}" in args for keyword, args in runtime), (
        "the cloudpam user is created with uid 10001"
    )


def test_dockerfile_exposes_8080_and_checks_health_without_curl():
    runtime = runtime_stage(dockerfile_instructions())
    assert ("EXPOSE", "8080") in runtime
    healthchecks = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0]
    assert "python" in healthchecks[0]
    assert "curl" not in healthchecks[0]


def test_dockerfile_default_command_is_gunicorn_on_8080():
    runtime = runtime_stage(dockerfile_instructions())
    commands = [args for keyword, args in runtime if keyword in {"CMD", "ENTRYPOINT"}]
    command = " ".join(commands)
    # Exec form: gunicorn is PID 1 and receives SIGTERM.
    assert command.startswith('["gunicorn", "cloudpam.wsgi:application"')
    assert "python:cloudpam.gunicorn_conf" in command
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in env


def test_gunicorn_config_serves_8080_and_sums_metrics_over_workers(tmp_path, monkeypatch):
    import importlib

    monkeypatch.setenv("GUNICORN_WORKERS", "5")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    conf = importlib.reload(importlib.import_module("cloudpam.gunicorn_conf"))
    assert conf.bind == "0.0.0.0:8080"
    assert conf.workers == 5
    assert conf.graceful_timeout < conf.timeout
    assert conf.control_socket_disable is True
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "stale.db").write_text("x")
    conf.on_starting(server=None)
    assert list((tmp_path / "prom").iterdir()) == []
    marked = []
    monkeypatch.setattr(conf.multiprocess, "mark_process_dead", marked.append)
    conf.child_exit(server=None, worker=type("W", (), {"pid": 4242})())
    assert marked == [4242]


def test_the_image_has_an_agent_command_running_the_discovery_agent(tmp_path):
    runtime = runtime_stage(dockerfile_instructions())
    runs = [
        args for keyword, args in runtime if keyword == "RUN" and "/usr/local/bin/agent" in args
    ]
    assert len(runs) == 1
    # Run the same printf to check the script it writes, then the script itself.
    script = tmp_path / "agent"
    command = runs[0].split(" > /usr/local/bin/agent")[0]
    subprocess.run(f"{command} > {script}", shell=True, check=True)  # noqa: S602
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert 'exec python -m apps.discovery.agent "$@"' in text
    help_text = subprocess.run(
        ["sh", str(script), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        cwd=ROOT,
    ).stdout
    assert "--once" in help_text


def test_dockerfile_collects_static_with_a_secret_scoped_to_that_run_line():
    instructions = dockerfile_instructions()
    collectstatic = [
        args for keyword, args in instructions if keyword == "RUN" and "collectstatic" in args
    ]
    assert len(collectstatic) == 1
    assert "SECRET_KEY=" in collectstatic[0]
    assert "--noinput" in collectstatic[0]
    for keyword, args in instructions:
        if keyword in {"ENV", "ARG"}:
            assert "SECRET_KEY" not in args, "a secret must never be stored in the image"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context():
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env"} <= patterns
    for needed in ("requirements", "manage.py", "cloudpam", "apps", "static", "templates"):
        assert needed not in patterns, f"{needed} is needed by the image"


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------


def test_compose_has_every_service(compose):
    expected = {"web", "worker", "beat", "migrate", "postgres", "redis"}
    assert expected <= set(compose["services"])


def test_compose_uses_postgres_15_and_redis_7(compose):
    services = compose["services"]
    assert services["postgres"]["image"].split(":")[1].startswith("15")
    assert services["redis"]["image"].split(":")[1].startswith("7")


def test_compose_keeps_postgres_data_in_a_named_volume(compose):
    mounts = compose["services"]["postgres"]["volumes"]
    data_mounts = [m for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert len(data_mounts) == 1
    volume = data_mounts[0].split(":")[0]
    assert volume in compose["volumes"], "the data volume is declared at the top level"


# Ids other than the bare service names: tests/conftest.py skips any test whose
# keywords include "postgres", and a parameter id is a keyword.
@pytest.mark.parametrize(
    "service", ["postgres", "redis", "web", "worker"], ids=lambda name: f"{name}-service"
)
def test_compose_long_running_services_have_healthchecks(compose, service):
    healthcheck = compose["services"][service]["healthcheck"]
    assert not healthcheck.get("disable", False)
    assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}
    assert healthcheck["interval"]
    assert healthcheck["retries"] >= 1


def test_compose_web_healthcheck_probes_readiness(compose):
    assert any("/readyz" in part for part in compose["services"]["web"]["healthcheck"]["test"])


@pytest.mark.parametrize("service", ["migrate", "beat"])
def test_compose_disables_the_image_healthcheck_where_no_web_server_runs(compose, service):
    assert compose["services"][service]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("service", LONG_RUNNING_APP_SERVICES)
def test_compose_app_services_start_after_migrations(compose, service):
    depends_on = compose["services"][service]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_compose_migrate_runs_once_after_postgres_is_healthy(compose):
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_shares_environment_through_x_anchors(compose):
    assert any(key.startswith("x-") for key in compose)
    environments = [compose["services"][name]["environment"] for name in APP_SERVICES]
    for environment in environments:
        assert environment["DJANGO_SETTINGS_MODULE"] == "cloudpam.settings.production"
        assert environment["SECRET_KEY"] == "${SECRET_KEY}", "secrets come from the environment"
        assert environment["REDIS_URL"].startswith("redis://redis:6379")


def test_compose_migrations_run_as_owner_and_the_app_as_application_role(compose):
    services = compose["services"]
    assert "cloudpam_owner" in services["migrate"]["environment"]["DATABASE_URL"]
    for name in LONG_RUNNING_APP_SERVICES:
        assert "cloudpam_app" in services[name]["environment"]["DATABASE_URL"]


def test_compose_roles_can_neither_bypass_rls_nor_act_as_superuser(compose):
    script = compose["configs"]["postgres-init-roles"]["content"]
    roles = re.findall(r"CREATE ROLE (\w+) ([^;]+);", script)
    assert {name for name, _ in roles} == {"cloudpam_owner", "cloudpam_app"}
    for _, options in roles:
        assert "NOSUPERUSER" in options
        assert "NOBYPASSRLS" in options


@pytest.mark.parametrize("service", ["web", "worker", "beat", "migrate"])
def test_compose_app_services_build_the_deploy_image_and_run_read_only(compose, service):
    definition = compose["services"][service]
    assert definition["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert definition["read_only"] is True
    assert SCRATCH_DIR in definition["tmpfs"]


def test_compose_commands_for_worker_and_beat(compose):
    services = compose["services"]
    assert services["worker"]["command"][:5] == ["celery", "-A", "cloudpam", "worker", "-l"]
    beat = services["beat"]["command"]
    assert beat[:4] == ["celery", "-A", "cloudpam", "beat"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in beat


def test_compose_build_context_points_at_the_dockerfile(compose):
    build = compose["services"]["web"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()


# ---------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------


def test_k8s_every_manifest_parses_and_has_kind_and_name():
    documents = k8s_documents()
    assert documents
    for document in documents:
        assert document["apiVersion"]
        assert document["kind"]
        assert document["metadata"]["name"]


def test_k8s_kustomization_lists_every_manifest_but_the_secret_example():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert resources == on_disk - {"secret.example.yaml"}
    assert kustomization["namespace"] == "cloudpam"


def test_k8s_has_every_expected_object():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in k8s_documents()}
    expected = {
        ("Namespace", "cloudpam"),
        ("ConfigMap", "cloudpam-config"),
        ("Secret", "cloudpam-secrets"),
        ("Deployment", "cloudpam-web"),
        ("Deployment", "cloudpam-worker"),
        ("Deployment", "cloudpam-beat"),
        ("Service", "cloudpam-web"),
        ("Ingress", "cloudpam"),
        ("Job", "cloudpam-migrate"),
        ("HorizontalPodAutoscaler", "cloudpam-web"),
        ("HorizontalPodAutoscaler", "cloudpam-worker"),
        ("PodDisruptionBudget", "cloudpam-web"),
    }
    assert expected <= kinds


def test_k8s_secret_example_holds_placeholders_only():
    for secret in objects_of_kind("Secret"):
        for key, value in secret["stringData"].items():
            assert "<" in value, f"{key} must be a placeholder, not a value"


@pytest.mark.parametrize(
    "deployment", objects_of_kind("Deployment"), ids=lambda d: d["metadata"]["name"]
)
def test_k8s_every_deployment_container_has_a_liveness_probe(deployment):
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        assert "livenessProbe" in container, container["name"]


@pytest.mark.parametrize(
    "deployment", objects_of_kind("Deployment"), ids=lambda d: d["metadata"]["name"]
)
def test_k8s_every_deployment_runs_as_non_root_with_a_read_only_root(deployment):
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == APP_UID
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for container in pod_containers(pod):
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        tmp_mounts = [m for m in container["volumeMounts"] if m["mountPath"] == SCRATCH_DIR]
        assert len(tmp_mounts) == 1, f"{container['name']} needs a writable /tmp"
        assert tmp_mounts[0]["name"] in tmp_volumes
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]["memory"]


def test_k8s_web_probes_healthz_for_liveness_and_readyz_for_readiness():
    web = by_name("Deployment", "cloudpam-web")
    assert web["spec"]["replicas"] == 2
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in container[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in by_name("ConfigMap", "cloudpam-config")["data"][
            "ALLOWED_HOSTS"
        ].split(",")


def test_k8s_worker_has_probes_and_celery_command():
    worker = by_name("Deployment", "cloudpam-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["command"][:5] == ["celery", "-A", "cloudpam", "worker", "-l"]
    assert "readinessProbe" in container


def test_k8s_beat_is_a_single_replica_recreated_never_scaled():
    beat = by_name("Deployment", "cloudpam-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    (container,) = beat["spec"]["template"]["spec"]["containers"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in container["command"]
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in objects_of_kind("HorizontalPodAutoscaler")
    }
    assert scaled == {"cloudpam-web", "cloudpam-worker"}
    budgets = objects_of_kind("PodDisruptionBudget")
    beat_labels = beat["spec"]["selector"]["matchLabels"]
    assert all(pdb["spec"]["selector"]["matchLabels"] != beat_labels for pdb in budgets)


def test_k8s_pdb_and_service_select_the_web_pods():
    web_labels = by_name("Deployment", "cloudpam-web")["spec"]["selector"]["matchLabels"]
    assert by_name("PodDisruptionBudget", "cloudpam-web")["spec"]["selector"]["matchLabels"] == (
        web_labels
    )
    assert by_name("Service", "cloudpam-web")["spec"]["selector"] == web_labels


def test_k8s_migration_job_runs_migrate_as_the_owner_role():
    job = by_name("Job", "cloudpam-migrate")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    env = {item["name"]: item for item in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "cloudpam-db-owner"


def test_k8s_ingress_routes_to_the_web_service_and_hides_metrics():
    ingress = by_name("Ingress", "cloudpam")
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert paths["/"] == "cloudpam-web"
    assert paths["/metrics"] != "cloudpam-web"
    assert ingress["spec"]["tls"]


def test_k8s_configmap_holds_no_secret():
    data = by_name("ConfigMap", "cloudpam-config")["data"]
    assert data["DJANGO_SETTINGS_MODULE"] == "cloudpam.settings.production"
    for secret_key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CLOUDPAM_ENCRYPTION_KEYS"):
        assert secret_key not in data


# ---------------------------------------------------------------------------
# Vector
# ---------------------------------------------------------------------------


def test_vector_parses_json_from_every_source(vector):
    remaps = {k: v for k, v in vector["transforms"].items() if v["type"] == "remap"}
    assert len(remaps) == 1
    ((_, remap),) = remaps.items()
    assert set(remap["inputs"]) == set(vector["sources"])
    assert "parse_json(" in remap["source"]
    source_types = {source["type"] for source in vector["sources"].values()}
    assert "file" in source_types
    assert "docker_logs" in source_types


def test_vector_filter_keeps_only_audit_events(vector):
    filters = {k: v for k, v in vector["transforms"].items() if v["type"] == "filter"}
    assert len(filters) == 1
    ((_, audit_filter),) = filters.items()
    remap_id = next(k for k, v in vector["transforms"].items() if v["type"] == "remap")
    assert audit_filter["inputs"] == [remap_id]
    condition = audit_filter["condition"]
    assert re.fullmatch(r'\s*\.logger\s*==\s*"cloudpam\.audit"\s*', condition)


def test_vector_ships_audit_events_to_the_three_siems(vector):
    filter_id = next(k for k, v in vector["transforms"].items() if v["type"] == "filter")
    sinks = vector["sinks"]
    assert sorted(sink["type"] for sink in sinks.values()) == [
        "aws_cloudwatch_logs",
        "gcp_stackdriver_logs",
        "splunk_hec_logs",
    ]
    for sink in sinks.values():
        assert sink["inputs"] == [filter_id]


def test_vector_sinks_take_their_settings_from_the_environment(vector):
    sinks = {sink["type"]: sink for sink in vector["sinks"].values()}
    splunk = sinks["splunk_hec_logs"]
    assert splunk["endpoint"] == "${SPLUNK_HEC_ENDPOINT}"
    assert splunk["default_token"] == "${SPLUNK_HEC_TOKEN}"
    assert splunk["encoding"]["codec"] == "json"
    cloudwatch = sinks["aws_cloudwatch_logs"]
    for option in ("group_name", "stream_name", "region"):
        assert cloudwatch[option].startswith("${")
    assert cloudwatch["encoding"]["codec"] == "json"
    cloud_logging = sinks["gcp_stackdriver_logs"]
    for option in ("project_id", "log_id", "credentials_path"):
        assert cloud_logging[option].startswith("${")
    assert cloud_logging["resource"]["type"]


def test_vector_sinks_never_drop_audit_events_when_a_destination_is_down(vector):
    for name, sink in vector["sinks"].items():
        assert sink["buffer"]["type"] == "disk", name
        assert sink["buffer"]["when_full"] == "block", name
        assert sink["acknowledgements"]["enabled"] is True, name


# ---------------------------------------------------------------------------
# Runbook
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "needle",
    [
        "pg_dump",
        "pg_restore",
        "CLOUDPAM_ENCRYPTION_KEYS",
        "rotate_credentials",
        "verify_audit_chain",
        "BYPASSRLS",
        "/readyz",
        "SECRET_KEY",
        "vector",
    ],
)
def test_runbook_covers(needle):
    assert needle in (DEPLOY / "RUNBOOK.md").read_text()
