"""Running on one machine: `codexbot up`'s supervisor and process trees, the Redis it starts, and `codexbot
check`.
"""
