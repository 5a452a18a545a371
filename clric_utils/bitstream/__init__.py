"""The ``.clric`` bitstream: bit-exact integer decoding, table-based entropy coding, container.

``rules`` (the format's rules, torch-free) → ``fixed_point`` (integer ARM and ŷ) → ``tables``
(exact probability tables) → ``weights_coding`` / ``grids_coding`` (constriction range coder)
→ ``header`` (container) → ``encode`` / ``decode``. The format is described in docs/format.md.

The names below are imported on first use (PEP 562), so that ``bitstream.rules`` can be
imported alone, without torch, by the codec and by anyone re-implementing the format.
"""

from __future__ import annotations

import importlib

#: Public name → the module of this package that defines it.
_EXPORTS = {
    "DecodedFile": ".decode",
    "decode_file": ".decode",
    "EncodedFile": ".encode",
    "encode_integers": ".encode",
    "encode_model": ".encode",
    "integer_arm": ".fixed_point",
    "integer_decoder_y_hat": ".fixed_point",
    "Header": ".header",
    "parse_header": ".header",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import ``name`` from its module the first time it is asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
