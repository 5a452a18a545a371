"""Entropy coding of the quantized network parameters.

Each (network, kind) group — e.g. the ARM's weights, the ARM's biases — is one sequence of
integers (its tensors flattened in layout order) coded with one zero-mean discretized Laplace
whose scale ``b`` (float32) and range ``[−M, M]`` are in the header; this is exactly the
model whose cost ``weight_quant.weight_code_bits`` estimates.
"""

from __future__ import annotations

import constriction
import numpy as np
import torch

from ..codec.weight_quant import laplace_scale_for
from .header import WeightGroup, to_f32
from .rules import ParamSpec, coding_groups
from .tables import weight_pmf


def laplace_scale(ints: np.ndarray) -> float:
    """The group's Laplace scale: weight_quant.laplace_scale_for, as float32."""
    scale = laplace_scale_for(torch.from_numpy(np.asarray(ints, dtype=np.int64)))
    return to_f32(scale)  # exactly what the header holds


def _group_values(values: dict[str, np.ndarray], layout: list[ParamSpec], network: str, kind: str):
    """All integers of one group, flattened in layout order."""
    parts = [
        np.asarray(values[f"{s.network}.{s.name}"], dtype=np.int64).reshape(-1)
        for s in layout
        if s.network == network and s.kind == kind
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _model(group: WeightGroup):
    """The constriction model of a group (same object type on both sides)."""
    return constriction.stream.model.Categorical(
        weight_pmf(group.scale, group.magnitude), perfect=False
    )


def encode_weights(
    values: dict[str, np.ndarray], layout: list[ParamSpec]
) -> tuple[list[WeightGroup], bytes]:
    """Code every group; return the groups' header entries and the payload bytes."""
    encoder = constriction.stream.queue.RangeEncoder()
    groups = []
    for network, kind in coding_groups(layout):
        ints = _group_values(values, layout, network, kind)
        magnitude = int(np.abs(ints).max()) if ints.size else 0
        group = WeightGroup(network, kind, laplace_scale(ints), magnitude)
        groups.append(group)
        if magnitude:
            encoder.encode((ints + magnitude).astype(np.int32), _model(group))
    return groups, encoder.get_compressed().astype("<u4").tobytes()


def decode_weights(
    payload: bytes, layout: list[ParamSpec], groups: list[WeightGroup]
) -> dict[str, np.ndarray]:
    """Decode the parameters ({"network.name": int64 array}); errors propagate to the caller."""
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    values: dict[str, np.ndarray] = {}
    by_group = {(g.network, g.kind): g for g in groups}
    if list(by_group) != coding_groups(layout):
        raise ValueError("weight groups do not match the architecture")
    for (network, kind), group in by_group.items():
        specs = [s for s in layout if s.network == network and s.kind == kind]
        count = sum(s.size for s in specs)
        if group.magnitude:
            ints = decoder.decode(_model(group), count).astype(np.int64) - group.magnitude
        else:
            ints = np.zeros(count, dtype=np.int64)
        start = 0
        for spec in specs:
            chunk = ints[start : start + spec.size]
            values[f"{spec.network}.{spec.name}"] = chunk.reshape(spec.shape)
            start += spec.size
    if not decoder.maybe_exhausted():
        raise ValueError("weights payload is longer than its parameters")
    return values
