"""Host-side git: the mirror cache, a run's checkout, the workspace (the worker's side of the tree the agent
touched), and cleaning workspaces and mirrors up.
"""
