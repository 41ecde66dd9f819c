"""The pages people open: a run (`/runs/<id>`), the run list (`/runs`), sign-in, and who may see what. Reads run
records; never runs anything.
"""
