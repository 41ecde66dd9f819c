"""Accept a trigger: dedupe the delivery, check rate limits and per-repository slots, record the run and enqueue
its job, all in one Lua script. Imported by the web side and by run/; imports records/ and below.
"""
