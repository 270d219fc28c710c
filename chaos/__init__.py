"""Chaos runs (``make chaos``): break things during real runs, then count what went wrong.

Each scenario starts its own world — the bundled Redis with AOF on a fixed port, the
simulator, the web app, two ``celery worker`` processes and beat — places calls through
it while something breaks, waits until every call is final or ``unknown``, and compares
the dialer's records with the simulator's ground truth (:mod:`chaos.truth`).
"""
