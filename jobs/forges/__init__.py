"""The forge protocol and its GitHub and GitLab adapters, the GitHub App's tokens, the stored GitLab tokens, and
API retries. Adapters return the project's own values and raise ForgeError subclasses.
"""
