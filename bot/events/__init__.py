"""Pure parsers: a forge's webhook payload becomes a Trigger (or the reason it is not one), and the `/codex`
grammar a Command. Dicts and strings in, values out: no Flask, no Redis, no I/O.
"""
