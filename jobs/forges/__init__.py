"""Forge adapters: the protocol and types in base, one module per forge (imported where used)."""

from jobs.forges.base import (Comment, Forge, ForgeAuthError, ForgeConflict, ForgeError,
                              ForgeNotFound, ForgePermissionError, ForgeUnavailable, GitCredentials,
                              Issue, PullRequest, Repository)

__all__ = ["Comment", "Forge", "ForgeAuthError", "ForgeConflict", "ForgeError", "ForgeNotFound",
           "ForgePermissionError", "ForgeUnavailable", "GitCredentials", "Issue", "PullRequest",
           "Repository"]
