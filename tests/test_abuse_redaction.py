"""The redactor knows every secret setting, so text that somehow held one leaves the worker masked."""

import pytest

from jobs.access.redaction import MASK, Redactor, settings_secrets
from jobs.settings import Settings
from tests.emulators.github_auth import generate_app_key

pytestmark = pytest.mark.abuse


def test_every_secret_setting_and_each_line_of_the_app_key_is_masked(tmp_path):
    pem, _ = generate_app_key()
    key_path = tmp_path / "app.pem"
    key_path.write_text(pem)
    s = Settings(secret_key="canary-secret-key", openai_api_key="canary-model-key",
                 github_client_secret="canary-client-secret", metrics_token="canary-metrics-token",
                 github_webhook_secret=("canary-hook-old", "canary-hook-new"), gitlab_webhook_secret=("canary-gitlab-hook",),
                 github_private_key_path=str(key_path))
    redactor = Redactor()
    redactor.add(*settings_secrets(s))
    key_lines = [line for line in pem.splitlines() if "PRIVATE KEY" not in line]
    planted = ["canary-secret-key", "canary-model-key", "canary-client-secret", "canary-metrics-token",
               "canary-hook-old", "canary-hook-new", "canary-gitlab-hook", pem, key_lines[0], key_lines[-1]]
    for secret in planted:
        assert secret not in redactor.redact(f"before {secret} after"), secret
        assert MASK in redactor.redact(f"before {secret} after")


def test_a_missing_key_file_is_left_to_the_forge_adapter_to_report(tmp_path):
    s = Settings(secret_key="canary-secret-key", github_private_key_path=str(tmp_path / "missing.pem"))
    assert settings_secrets(s) == ["canary-secret-key"]
