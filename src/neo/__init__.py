"""NEO: a self-hosted backend for AI-agent applications, in one Python package.

Capabilities live in sub-packages (`neo.auth`, `neo.data`, ...) on top of the shared core
(`neo.core`) and generic helpers (`neo.kit`); `neo.app` and `neo.cli` wire them together.
See ARCHITECTURE.md for the map.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
