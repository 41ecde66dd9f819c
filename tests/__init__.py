"""Tests for codexbot; tests/emulators/ holds the stand-ins for GitHub, GitLab and the OpenAI API."""
