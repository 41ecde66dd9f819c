"""Every command of the `codexbot` program. May import anything below it; nothing imports cli/.
"""
