"""Who may see or do what, and keeping secrets secret: redaction, signed run links, API tokens, viewers' sessions
and permissions.
"""
