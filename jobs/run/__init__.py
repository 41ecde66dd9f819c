"""One run from the queue to its answer: `run_pipeline(start, finish)`, the attempt (setup → agent → tests → the
change) it and every other run share, best-of-N, authorization, control commands, cancellation, locks, replay,
and `wiring` (the one place concrete forge, model and sandbox classes are chosen). Imported by the worker,
local/ and cli/.
"""
