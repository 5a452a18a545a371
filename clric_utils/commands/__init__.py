"""Sub-commands of the ``clric`` CLI.

Each module defines ``add_arguments(parser)`` and ``run(args) -> int``.
"""
