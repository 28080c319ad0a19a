"""Generic helpers that know nothing of NEO: network ports, named SQL files, secrets redaction.

Everything here could live in a separate library; nothing imports from `neo.*`.
"""
