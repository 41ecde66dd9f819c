"""The deployment files pass their static checks (no Docker engine runs here): hadolint, the compose schema."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make test` installs it with the test extras")
    return path


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_file_matches_the_compose_spec():
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_installs_the_project_and_runs_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in text and "bubblewrap" in text and "HEALTHCHECK" in text
    assert text.count("FROM ") == 2  # multi-stage: the build tools stay out of the image


def test_kubernetes_example_runs_web_workers_and_a_control_worker_from_one_secret():
    import yaml

    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "codexbot.yaml").read_text()))
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"codexbot-web", "codexbot-worker", "codexbot-control"}
    assert any(d["kind"] == "Service" for d in docs)
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["envFrom"] == [{"secretRef": {"name": "codexbot"}}]
        assert container["args"][0] == "codexbot"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert deployments["codexbot-control"]["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--queue", "control"]
