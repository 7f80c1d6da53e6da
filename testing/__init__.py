"""Test doubles that ship with Folio, so that ``folio eval`` and the demo mode can use them as well as the tests.

- ``folio.testing.provider``: an OpenAI-compatible server with DeepSeek's usage fields and prefix-cache accounting
  (``folio serve --simulated-model``, ``folio eval``'s routing replay, and the tests' ``provider_double`` fixture).

Nothing here imports pytest or the ``tests/`` folder; of Folio it uses ``folio.ingest`` (the tokenizer) only.
"""
