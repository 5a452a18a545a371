"""Reading a ``.clric`` file: header → network parameters → grids → integer ŷ.

Every failure of a malformed file — bad header, corrupted payload, constriction refusing a
model, fixed-point overflow, numpy errors — becomes one ``ClricFormatError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ClricFormatError
from ..memory_budget import is_allocation_failure
from .fixed_point import IntegerNetworks, integer_decoder_y_hat, networks_from_values
from .grids_coding import decode_grids
from .header import Header, parse_header
from .rules import parameter_layout
from .weights_coding import decode_weights


@dataclass
class DecodedFile:
    """Everything a ``.clric`` file holds, decoded."""

    header: Header
    grids: list[np.ndarray]  # integer levels, finest first, c × h × w each
    values: dict[str, np.ndarray]  # integer network parameters, "network.name" → array
    networks: IntegerNetworks
    y_hat: np.ndarray  # 1 × C × h × w float32, bit-identical to the encoder's


def decode_file(data: bytes, header: Header | None = None) -> DecodedFile:
    """Decode a complete ``.clric`` file; raise ClricFormatError if it is malformed in any way.

    ``header``: the file's header as ``parse_header(data)`` returned it, when the caller has
    parsed it already (it is then not parsed again).
    """
    header = parse_header(data) if header is None else header
    try:
        shapes = header.grid_shapes
        layout = parameter_layout(header.arch, len(shapes))
        start = header.header_bytes
        weights_payload = bytes(data[start : start + header.weights_bytes])
        start += header.weights_bytes
        grids_payload = bytes(data[start : start + header.grids_bytes])
        values = decode_weights(weights_payload, layout, header.weight_groups)
        networks = networks_from_values(header.arch, len(shapes), values, header.exponents)
        grids = decode_grids(grids_payload, shapes, header.level_channels, header.grid_ranges,
                             networks.arm, header.version)
        y_hat = integer_decoder_y_hat(grids, networks, header.arch)
    except ClricFormatError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 - constriction panics are BaseExceptions
        if is_allocation_failure(error):  # the machine's memory, not the file: said as such
            raise
        # constriction reports invalid data as ValueError or AssertionError (and a Rust panic
        # as pyo3's PanicException); fixed-point overflow is an ArithmeticError. Anything else
        # would be a decoder bug, but no file may crash a caller with an unexpected type.
        raise ClricFormatError(
            f"corrupted .clric payload ({type(error).__name__}: {error})"
        ) from None
    return DecodedFile(header, grids, values, networks, y_hat)
