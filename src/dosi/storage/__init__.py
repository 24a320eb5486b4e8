"""Storage behind Protocols: ``base.py`` is the contract, ``sqlite.py`` and ``postgres.py`` implement it."""
