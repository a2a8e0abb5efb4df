"""The application layer: one module per use of the system (a map page's data, a queue by scope, publishing a
plan with its handover) that spans several storage modules, needs a cache, or is shared by the API and the CLI.

Dependencies: ``usecases`` → ``layers``, ``maps``, ``gis``; ``api`` and ``scripts`` → ``usecases``. Nothing here
knows HTTP or argparse, and nothing below (``gis``, ``layers``, ``maps``) imports it. See ``docs/architecture.md``.
"""
