"""Fuzz the .clric decoder: mutate a valid file many ways, decode each with a time limit.

Every mutated file must either decode or raise ``ClricFormatError``; anything else is a
``crash`` (another exception) or a ``hang`` (no answer within the time limit). Mutations
include ones whose CRC-32 is recomputed afterwards, so that the header parser and the payload
decoder themselves (not just the checksum) see corrupted input.

    python benchmarks/fuzz_decoder.py --n 10000 --seed 0

Decoding runs in one worker process that is killed and restarted after a hang.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import struct
import sys
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

OUTCOMES = ("clean_error", "decoded", "crash", "hang")


def fix_crc(data: bytes) -> bytes:
    """Recompute the trailing CRC-32 so that only the parser and decoder can object."""
    if len(data) < 4:
        return data
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def mutate(data: bytes, rng: np.random.Generator, header_bytes: int) -> tuple[str, bytes]:
    """One random mutation of ``data``: (kind, mutated bytes)."""
    buf = bytearray(data)
    n = len(buf)
    kind = str(rng.choice([
        "byte_change", "bit_flip", "insert", "delete", "truncate", "append",
        "crc_header_byte", "crc_header_varint", "crc_payload_byte", "crc_payload_random",
        "crc_insert", "crc_delete", "crc_truncate_body",
    ]))
    if kind == "byte_change":
        for _ in range(int(rng.integers(1, 5))):
            buf[int(rng.integers(n))] = int(rng.integers(256))
    elif kind == "bit_flip":
        position = int(rng.integers(n))
        buf[position] ^= 1 << int(rng.integers(8))
    elif kind in ("insert", "crc_insert"):
        position = int(rng.integers(n + 1))
        noise = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8)
        buf[position:position] = noise.tobytes()
    elif kind in ("delete", "crc_delete"):
        start = int(rng.integers(n))
        del buf[start : start + int(rng.integers(1, 9))]
    elif kind == "truncate":
        del buf[int(rng.integers(n)) :]
    elif kind == "append":
        buf += rng.integers(0, 256, int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
    elif kind == "crc_header_byte":
        position = int(rng.integers(5, max(6, header_bytes)))
        buf[position] = int(rng.integers(256))
    elif kind == "crc_header_varint":
        # Large values where the header keeps sizes: exercises the bounds checks.
        position = int(rng.integers(5, max(6, header_bytes)))
        buf[position : position + 1] = bytes([0xFF, 0xFF, 0xFF, int(rng.integers(0, 16))])
    elif kind == "crc_payload_byte":
        if n - 4 > header_bytes:
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(header_bytes, n - 4))] = int(rng.integers(256))
    elif kind == "crc_payload_random":
        if n - 4 > header_bytes:
            noise = rng.integers(0, 256, n - 4 - header_bytes, dtype=np.uint8)
            buf[header_bytes : n - 4] = noise.tobytes()
    elif kind == "crc_truncate_body":
        del buf[int(rng.integers(5, n - 4)) : n - 4]
    out = bytes(buf)
    return kind, fix_crc(out) if kind.startswith("crc_") else out


def _classify(data: bytes) -> str:
    """Decode ``data`` in this process: 'decoded', 'clean_error' or 'crash: …'."""
    from clric_utils.bitstream import decode_file
    from clric_utils.errors import ClricFormatError

    try:
        decode_file(data)
        return "decoded"
    except ClricFormatError:
        return "clean_error"
    except BaseException:  # noqa: BLE001 - any other exception is exactly what we look for
        return "crash: " + traceback.format_exc(limit=3).strip().splitlines()[-1]


def _worker(connection) -> None:
    """Decode the files sent over ``connection`` until it closes."""
    import torch

    torch.set_num_threads(1)
    while True:
        try:
            data = connection.recv()
        except EOFError:
            return
        connection.send(_classify(data))


class Harness:
    """A worker process that decodes one file at a time, restarted after a hang."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.context = mp.get_context("spawn")  # no inherited thread pools
        self.process = None
        self._start()

    def _start(self) -> None:
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def run(self, data: bytes) -> str:
        """Outcome of decoding ``data``: one of OUTCOMES, or 'crash: …'."""
        try:
            self.connection.send(data)
            if self.connection.poll(self.timeout):
                return self.connection.recv()
        except (EOFError, OSError) as error:  # the worker died (or never started)
            self._restart()
            return f"crash: worker died ({type(error).__name__})"
        self._restart()
        return "hang"

    def _restart(self) -> None:
        self.process.kill()
        self.process.join()
        self._start()

    def close(self) -> None:
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


def sample_file(seed: int = 0) -> tuple[bytes, int]:
    """A small valid .clric file (random quantized model) and its header length."""
    import torch

    from clric_utils.bitstream import encode_model
    from clric_utils.codec.arch import get_preset
    from clric_utils.codec.model import OverfittedLatentModel

    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # module initialisation draws from torch's RNG
        torch.manual_seed(seed)
        model = OverfittedLatentModel(8, 12, get_preset("paper"))
    exponents = {"arm": (8, 8), "upsampling": (8, 8), "synthesis": (8, 8)}
    with torch.no_grad():
        for module in model.networks().values():
            for param in module.parameters():
                value = param + 0.2 * torch.randn(param.shape, generator=generator)
                param.copy_(torch.round(value * 256) / 256)
        model.grids.set_values([
            torch.round(3 * torch.randn((1, 1, *s), generator=generator))
            for s in model.grids.shapes
        ])
    encoded = encode_model(
        model, exponents, image_size=(64, 96), vae_name="tiny", vae_scaling_factor=1.0,
        preset="paper", lmbda=1e-3, estimated_bits=0.0,
    )
    return encoded.data, encoded.header.header_bytes


def fuzz(n: int, seed: int = 0, timeout: float = 10.0, data: bytes | None = None,
         header_bytes: int | None = None, verbose: bool = False) -> tuple[Counter, list[str]]:
    """Run ``n`` mutations; return outcome counts and the descriptions of crashes and hangs."""
    if data is None:
        data, header_bytes = sample_file(seed)
    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    problems: list[str] = []
    harness = Harness(timeout)
    try:
        for i in range(n):
            kind, mutated = mutate(data, rng, header_bytes or 5)
            outcome = harness.run(mutated)
            key = "crash" if outcome.startswith("crash") else outcome
            counts[key] += 1
            counts[f"{kind}:{key}"] += 1
            if key in ("crash", "hang"):
                problems.append(f"case {i} ({kind}): {outcome}")
                if verbose:
                    print(problems[-1], file=sys.stderr)
    finally:
        harness.close()
    return counts, problems


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 1 if any crash or hang was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of mutated files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per file")
    parser.add_argument("--file", type=Path, default=None,
                        help="a valid .clric file to mutate (default: a small random one)")
    args = parser.parse_args(argv)
    data = header_bytes = None
    if args.file is not None:
        from clric_utils.bitstream import parse_header

        data = args.file.read_bytes()
        header_bytes = parse_header(data).header_bytes
    start = time.perf_counter()
    counts, problems = fuzz(args.n, args.seed, args.timeout, data, header_bytes, verbose=True)
    seconds = time.perf_counter() - start
    print(f"{args.n} mutated files in {seconds:.1f} s (seed {args.seed})")
    for outcome in OUTCOMES:
        print(f"  {outcome:12s} {counts[outcome]}")
    kinds = sorted({k.split(':')[0] for k in counts if ':' in k})
    for kind in kinds:
        parts = ", ".join(f"{o} {counts[f'{kind}:{o}']}" for o in OUTCOMES if counts[f"{kind}:{o}"])
        print(f"    {kind:20s} {parts}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
