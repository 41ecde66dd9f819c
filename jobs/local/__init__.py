"""The developer's side: a local checkout and its snapshot, local run records, `codexbot run`, and the user's
config file.
"""
