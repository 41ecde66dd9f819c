"""The refusal names the role in the forge's own words, read through the real API of each emulator."""

import pytest

from jobs.run.authorize import permission_problem
from jobs.forges.gitlab import GitLabForge
from tests.emulators.gitlab import GitLabEmulator

pytestmark = pytest.mark.abuse
TOKEN = "glpat-permission-words-0123456789"


@pytest.fixture
def gitlab_forge():
    with GitLabEmulator() as emu:
        emu.create_project("octo/calc", {"README.md": "hi\n"})
        emu.add_token(TOKEN, "octo/calc")
        emu.add_user("rita", {"octo/calc": 20})
        emu.add_user("dev", {"octo/calc": 30})
        emu.add_user("nobody")
        forge = GitLabForge(emu.url, TOKEN, "octo/calc", is_merge_request=False)
        yield forge
        forge.close()


def test_gitlab_refusals_name_gitlab_roles(gitlab_forge):
    assert permission_problem(gitlab_forge, "rita", "write", "gitlab") == (
        "@rita needs the Developer role or higher in this project to run codexbot, and has Reporter; nothing was run")
    assert "and has no role" in permission_problem(gitlab_forge, "nobody", "write", "gitlab")
    assert permission_problem(gitlab_forge, "dev", "write", "gitlab") is None
    assert "Maintainer role" in permission_problem(gitlab_forge, "dev", "maintain", "gitlab")
