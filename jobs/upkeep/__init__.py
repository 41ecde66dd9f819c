"""Work nobody asked for: reconcile runs whose worker died, tidy (archive, retention) on the worker's beat.
"""
