"""Root conftest: loads the contract suite's pytest plugin.

The plugin only acts on runs that collect ``contract_tests/``; the project's
own tests under ``tests/`` see its options but none of its side effects.
"""

pytest_plugins = ("cmdb_contract.plugin",)
