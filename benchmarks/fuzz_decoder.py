"""Fuzz the .clric decoder: mutate a valid file many ways, decode each with a time limit.

Every mutated file must either decode or raise ``ClricFormatError``; anything else is a
``crash`` (another exception) or a ``hang`` (no answer within the time limit). Mutations
include ones whose CRC-32 is recomputed afterwards, so that the header parser and the payload
decoder themselves (not just the checksum) see corrupted input.

    python benchmarks/fuzz_decoder.py --n 10000 --seed 0
    python benchmarks/fuzz_decoder.py --n 10000 --seed 0 --forge-headers --memory-limit 2

With ``--forge-headers`` the files are forged instead (``forge_clric.py``): any image size up
to 16384 × 16384, any preset, VAE name and scaling factor, grid ranges and weight groups with
random payloads, always with a valid CRC. Each goes through the *full* decode, VAE included
(``api.decompress`` with ``max_memory`` = the limit), in a worker whose address space is
capped at its size after start-up plus ``--memory-limit`` GB (``RLIMIT_AS``, like
``ulimit -v``); the project's own errors (a refused budget included) are clean errors, a
``MemoryError`` is a crash. The peak resident memory the worker reached above its start-up
size, and the slowest answer of each kind, are reported. One forged file in eight is a
decode-work bomb (``WORK_BOMBS``): 100-byte files with constant grids and zero weights that
claim a huge picture or a huge synthesis, which the work budget
(``clric_utils/work_budget.py``) must refuse in well under a second.

Decoding runs in one worker process that is killed and restarted after a hang.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import resource
import struct
import sys
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

OUTCOMES = ("clean_error", "decoded", "crash", "hang")
#: VAEs a forged file may name that the worker loads up front (others: a clean error or a
#: scaling-factor mismatch; nothing is ever downloaded, the fuzzer runs offline).
FORGED_VAES = ("tiny", "house")
#: Largest image side written into forged headers (the format allows 16384).
FORGED_MAX_SIDE = 20_000
#: The decode-work bombs of issue 26: (height, width, preset, synthesis or None for the
#: preset's). Each decoded for 75–430 s (1.2–2.6 GB) before the work budget existed.
WORK_BOMBS = (
    (4096, 4096, "paper", None),
    (6000, 6000, "paper", None),
    (6000, 6000, "wide", None),
    (2048, 2048, "paper", ",".join(["80-3-linear-relu"] * 15 + ["4-3-linear-none"])),
    (2048, 2048, "paper", ",".join(["256-1-linear-relu"] * 15 + ["4-1-linear-none"])),
)


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


def _classify_full(data: bytes, memory_limit: float) -> str:
    """Decode ``data`` to pixels (VAE included): 'decoded', 'clean_error: …' or 'crash: …'."""
    from clric_utils.api import decompress
    from clric_utils.errors import ClricError

    try:
        decompress(data, max_memory=memory_limit)
        return "decoded"
    except ClricError as error:
        return f"clean_error: {type(error).__name__}"
    except BaseException:  # noqa: BLE001 - MemoryError included: the budget let it through
        return "crash: " + traceback.format_exc(limit=3).strip().splitlines()[-1]


def _peak_kb() -> int:
    """Peak resident memory of this process, in KB (Linux's ru_maxrss unit)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _address_space() -> int:
    """Current size of this process's address space in bytes (VmSize), 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _worker(connection, memory_limit: float | None = None) -> None:
    """Decode the files sent over ``connection`` until it closes.

    Without ``memory_limit``: ŷ only (``decode_file``), one outcome string per file. With it
    (GB): the full decode, VAE included, under an address-space cap of start-up size plus the
    limit; one (outcome, peak KB above start-up, peak KB in all) triple per file.
    """
    import torch

    torch.set_num_threads(1)
    if memory_limit is not None:
        from clric_utils.vae import load_vae

        for name in FORGED_VAES:  # loaded once, before the cap and the baseline
            load_vae(name)
        cap = _address_space() + int(memory_limit * (1 << 30))
        if cap > int(memory_limit * (1 << 30)):
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        baseline = _peak_kb()
    connection.send("ready")
    while True:
        try:
            data = connection.recv()
        except EOFError:
            return
        if memory_limit is None:
            connection.send(_classify(data))
        else:
            outcome = _classify_full(data, memory_limit)
            connection.send((outcome, _peak_kb() - baseline, _peak_kb()))


class Harness:
    """A worker process that decodes one file at a time, restarted after a hang.

    ``memory_limit`` (GB) selects the full decode under a memory cap (see ``_worker``); the
    highest peak memory reported by any worker is kept in ``peak_kb``.
    """

    def __init__(self, timeout: float, memory_limit: float | None = None) -> None:
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.peak_kb = 0
        self.total_peak_kb = 0
        self.context = mp.get_context("spawn")  # no inherited thread pools
        self.process = None
        self._start()

    #: Seconds a worker may take to start (import torch, load the VAEs) before it counts.
    STARTUP_TIMEOUT = 300

    def _start(self) -> None:
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child, self.memory_limit),
                                            daemon=True)
        self.process.start()
        child.close()
        if not self.connection.poll(self.STARTUP_TIMEOUT) or self.connection.recv() != "ready":
            raise RuntimeError("the fuzzing worker did not start")

    def run(self, data: bytes) -> str:
        """Outcome of decoding ``data``: one of OUTCOMES, or 'crash: …'."""
        try:
            self.connection.send(data)
            if self.connection.poll(self.timeout):
                answer = self.connection.recv()
                if isinstance(answer, tuple):
                    answer, peak_kb, total_kb = answer
                    self.peak_kb = max(self.peak_kb, peak_kb)
                    self.total_peak_kb = max(self.total_peak_kb, total_kb)
                return answer
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


def _forged_side(rng: np.random.Generator, large: bool) -> int:
    """An image side: log-uniform in 1 … 1024, or (``large``) in 1 … FORGED_MAX_SIDE."""
    top = np.log2(FORGED_MAX_SIDE if large else 1024)
    return max(1, int(2 ** rng.uniform(0, top)))


def work_bomb(rng: np.random.Generator) -> bytes:
    """One of the WORK_BOMBS, for the VAE it names (house or tiny)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from forge_clric import forge_file

    from clric_utils.codec.arch import get_preset, parse_synthesis
    from clric_utils.vae import load_vae

    height, width, preset, synthesis = WORK_BOMBS[int(rng.integers(len(WORK_BOMBS)))]
    arch = get_preset(preset)
    if synthesis is not None:
        arch = dataclasses.replace(arch, synthesis=parse_synthesis(synthesis))
    vae_name = str(rng.choice(FORGED_VAES))
    return forge_file(height, width, preset, vae_name, load_vae(vae_name).scaling_factor,
                      arch=arch)


def forge(rng: np.random.Generator) -> tuple[str, bytes]:
    """One forged file with a valid CRC: (kind, bytes). See the module docstring.

    Kinds: ``forge_size`` (any size, empty payloads), ``forge_model`` (correctly coded random
    grids and networks: the fixed-point decoder and the VAE see wild values), ``forge_ranges``
    (random grid ranges, random grid payload), ``forge_weights`` (random weight groups and
    payload), ``forge_vae`` (VAE name and scaling factor), ``forge_all`` (several at once),
    ``forge_work`` (a decode-work bomb, ``work_bomb``).
    Out-of-range values (sides beyond 16384, spans beyond 2048…) are drawn rarely, so that
    most files pass the header checks and reach the budget, the payload decoders and the VAE.
    Half the ``forge_size`` and ``forge_all`` sizes range up to FORGED_MAX_SIDE (refused by
    the limits or the memory budget, or decoded through tiles); the others stay ≤ 1024.
    """
    sys.path.insert(0, str(Path(__file__).parent))
    from forge_clric import forge_file, forge_model_file, n_grid_levels, n_weight_groups

    from clric_utils.bitstream.rules import MAX_GRID_RANGE, MAX_WEIGHT_MAGNITUDE
    from clric_utils.codec.arch import PRESETS
    from clric_utils.vae import load_vae

    kind = str(rng.choice(["forge_size", "forge_model", "forge_model", "forge_ranges",
                           "forge_weights", "forge_vae", "forge_all", "forge_work"]))
    if kind == "forge_work":
        return kind, work_bomb(rng)
    large = kind in ("forge_size", "forge_all") and rng.random() < 0.5
    height, width = _forged_side(rng, large), _forged_side(rng, large)
    preset = str(rng.choice(sorted(PRESETS)))
    vae_name = str(rng.choice(FORGED_VAES, p=[0.8, 0.2]))
    scaling = load_vae(vae_name).scaling_factor
    if kind == "forge_model":
        side = 512  # the writer computes ŷ and codes every grid value: keep it quick
        data = forge_model_file(min(height, side), min(width, side), rng, preset, vae_name,
                                scaling)
        if data is not None:
            return kind, data
        kind = "forge_size"  # the writer refused this draw: forge its header instead
    if kind in ("forge_vae", "forge_all"):
        vae_name = str(rng.choice([*FORGED_VAES, "sd", "no-such-vae", "../x", "", "a" * 255]))
        scaling = float(rng.choice([scaling, scaling, 1.0, 2.0**-20, 2.0**20, 1e-30, -1.0]))
    options: dict = {}
    sides = min(height, 16384), min(width, 16384)
    words = [0, 0]
    if kind in ("forge_ranges", "forge_all"):
        ranges = []
        for _ in range(n_grid_levels(*sides, preset)):
            low = int(rng.integers(-2000, 2000))
            span = int(rng.integers(0, 64)) if rng.random() < 0.7 else MAX_GRID_RANGE - 1
            ranges.append((low, low + span + (rng.random() < 0.02)))
        options["grid_ranges"] = ranges
        words[1] = int(rng.integers(0, 1 + min(4096, sides[0] * sides[1] // 16)))
    if kind in ("forge_weights", "forge_all"):
        groups = n_weight_groups(*sides, preset)
        options["magnitudes"] = [
            int(rng.integers(0, 300)) if rng.random() < 0.9 else MAX_WEIGHT_MAGNITUDE
            + (rng.random() < 0.2) for _ in range(groups)]
        options["scales"] = [float(rng.choice([1.0, 2.0**-10, 2.0**24, 0.01, 1e3, 1e-6]))
                             for _ in range(groups)]
        words[0] = int(rng.integers(0, 2048))
    data = forge_file(height, width, preset, vae_name, scaling, payload_words=tuple(words),
                      rng=rng, **options)
    return kind, data


def fuzz(n: int, seed: int = 0, timeout: float = 10.0, data: bytes | None = None,
         header_bytes: int | None = None, verbose: bool = False,
         memory_limit: float | None = None) -> tuple[Counter, list[str]]:
    """Run ``n`` mutations; return outcome counts and the descriptions of crashes and hangs.

    With ``memory_limit`` (GB), forged files (``forge``) go through the full decode under that
    memory cap instead; ``counts["peak_kb"]`` is then the worker's peak memory above start-up
    and ``counts["total_peak_kb"]`` its peak in all (KB).
    """
    if data is None and memory_limit is None:
        data, header_bytes = sample_file(seed)
    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    problems: list[str] = []
    harness = Harness(timeout, memory_limit)
    try:
        for i in range(n):
            if memory_limit is None:
                kind, mutated = mutate(data, rng, header_bytes or 5)
            else:
                kind, mutated = forge(rng)
            started = time.perf_counter()
            outcome = harness.run(mutated)
            elapsed_ms = round(1000 * (time.perf_counter() - started))
            counts[f"{kind}:slowest_ms"] = max(counts[f"{kind}:slowest_ms"], elapsed_ms)
            if outcome.startswith("clean_error: "):  # the error type, for the summary
                counts[f"{outcome.split(': ')[1]}"] += 1
                outcome = "clean_error"
            key = "crash" if outcome.startswith("crash") else outcome
            counts[key] += 1
            counts[f"{kind}:{key}"] += 1
            if key in ("crash", "hang"):
                problems.append(f"case {i} ({kind}): {outcome}")
                if verbose:
                    print(problems[-1], file=sys.stderr)
    finally:
        harness.close()
    counts["peak_kb"], counts["total_peak_kb"] = harness.peak_kb, harness.total_peak_kb
    return counts, problems


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 1 if any crash or hang was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of mutated files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per file (default 10; 300 with --forge-headers, whose "
                             "files within the budget are decoded by the VAE)")
    parser.add_argument("--file", type=Path, default=None,
                        help="a valid .clric file to mutate (default: a small random one)")
    parser.add_argument("--forge-headers", action="store_true",
                        help="forge headers (sizes, grid ranges, weight groups; valid CRC) "
                             "and decode them fully, VAE included, under --memory-limit")
    parser.add_argument("--memory-limit", type=float, default=2.0, metavar="GB",
                        help="with --forge-headers: the decoder's max_memory and the worker's "
                             "address-space cap above its start-up size (default 2)")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = 300.0 if args.forge_headers else 10.0
    data = header_bytes = None
    if args.file is not None:
        from clric_utils.bitstream import parse_header

        data = args.file.read_bytes()
        header_bytes = parse_header(data).header_bytes
    start = time.perf_counter()
    memory_limit = args.memory_limit if args.forge_headers else None
    counts, problems = fuzz(args.n, args.seed, args.timeout, data, header_bytes, verbose=True,
                            memory_limit=memory_limit)
    seconds = time.perf_counter() - start
    what = "forged files, full decode" if args.forge_headers else "mutated files"
    print(f"{args.n} {what} in {seconds:.1f} s (seed {args.seed})")
    for outcome in OUTCOMES:
        print(f"  {outcome:12s} {counts[outcome]}")
    if args.forge_headers:
        errors = sorted(k for k in counts if k.endswith("Error"))
        print("  clean errors by type: " + ", ".join(f"{k} {counts[k]}" for k in errors))
        print(f"  peak memory above the started worker: {counts['peak_kb'] / 1024:.0f} MB "
              f"(address space capped at start-up + {args.memory_limit:g} GB); worker peak "
              f"in all, torch and both VAEs included: {counts['total_peak_kb'] / 1024:.0f} MB")
    kinds = sorted({k.split(':')[0] for k in counts if ':' in k})
    for kind in kinds:
        parts = ", ".join(f"{o} {counts[f'{kind}:{o}']}" for o in OUTCOMES if counts[f"{kind}:{o}"])
        slowest = counts[f"{kind}:slowest_ms"] / 1000
        print(f"    {kind:20s} {parts}; slowest answer {slowest:.2f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
