"""Reference emulator of BlueKing ESB + CMDB `create_set` (and the components
a contract suite needs for setup and teardown).

It implements the research in /work/shared/research (the real server's
behaviour), not the upstream documentation, and imports nothing from the
contract suite.  Entry points: `python -m cmdb_emulator` / `cmdb-emulator`,
and `cmdb_emulator.server.start_server` for in-process tests.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
