"""Contract test suite for BlueKing CMDB's create_set API (through ESB).

The package holds the pieces the pytest suite in ``contract_tests/`` is made of:
``spec`` (the promise as data), ``strategies`` (payload generation),
``client`` (talking to a target), ``oracles`` (judging responses) and
``plugin`` (pytest options, fixtures and the report). It never imports the
emulator: the two implement the documentation and the research independently.
"""
