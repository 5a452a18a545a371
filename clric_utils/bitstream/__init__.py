"""The ``.clric`` bitstream: bit-exact integer decoding, table-based entropy coding, container.

``fixed_point`` (integer ARM and ŷ) → ``tables`` (exact probability tables) →
``weights_coding`` / ``grids_coding`` (constriction range coder) → ``header`` (container) →
``encode`` / ``decode``. The format is described in docs/format.md.
"""

from .decode import DecodedFile, decode_file
from .encode import EncodedFile, encode_integers, encode_model
from .fixed_point import integer_arm, integer_decoder_y_hat
from .header import Header, parse_header

__all__ = [
    "DecodedFile",
    "EncodedFile",
    "Header",
    "decode_file",
    "encode_integers",
    "encode_model",
    "integer_arm",
    "integer_decoder_y_hat",
    "parse_header",
]
