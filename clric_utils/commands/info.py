"""Describe a .clric file: size, rate, VAE, architecture, decode work (reads the header only)."""

from __future__ import annotations

import argparse
import json

from ..bitstream.header import Header
from ..codec.macs import decoder_macs
from ..work_budget import DEFAULT_MAX_WORK_MP, decode_work


def describe(header: Header) -> dict:
    """The header's facts as a JSON-ready dictionary."""
    arch = header.arch
    pixels = header.image_height * header.image_width
    info = {
        "version": header.version,
        "width": header.image_width,
        "height": header.image_height,
        "vae": header.vae_name,
        "vae_scaling_factor": header.vae_scaling_factor,
        "bytes": header.total_bytes,
        "bpp": header.bpp,
        "header_bytes": header.header_bytes,
        "payload_bits": 8 * (header.weights_bytes + header.grids_bytes),
        "weights_bits": 8 * header.weights_bytes,
        "grids_bits": 8 * header.grids_bytes,
        "estimated_bits": header.estimated_bits,
        "estimated_bpp": header.estimated_bits / pixels,
        "preset": header.preset,
        "lmbda": header.lmbda,
        "latent_size": list(header.latent_size),
        "n_grids": len(header.grid_shapes),
        "arch": {
            "n_levels": arch.n_levels,
            "arm_context": arch.arm_context,
            "arm_hidden_layers": arch.arm_hidden_layers,
            "upsampling_taps": arch.upsampling_taps,
            "synthesis": arch.synthesis_string(),
        },
        "weight_exponents": {k: list(v) for k, v in header.exponents.items()},
    }
    info["mac_per_pixel"] = decoder_macs(arch, header.image_height, header.image_width
                                         ).per_pixel()["total"]
    info["decode_work"] = work_description(header)
    return info


def work_description(header: Header) -> dict:
    """The decode's cost from the header: f_ψ's MACs, the VAE's (when it is a known one), and
    the work in megapixel-equivalents against the default limit (``work_budget.py``)."""
    from ..vae.registry import VAES

    work = decode_work(header.arch, header.image_height, header.image_width)
    spec = VAES.get(header.vae_name)
    vae_mac = spec.decoder_mac_per_pixel if spec is not None else 0.0
    return {
        "f_psi_gmac": work.f_psi_macs / 1e9,
        "vae_mac_per_pixel": vae_mac or None,
        "vae_gmac": work.vae_macs(vae_mac) / 1e9 if vae_mac else None,
        "megapixel_equivalents": work.megapixels,
        "default_limit": DEFAULT_MAX_WORK_MP,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``clric info`` options."""
    parser.add_argument("input", help="the .clric file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Print the description."""
    from ..api import read_header

    info = describe(read_header(args.input))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    arch = info["arch"]
    mac = info["mac_per_pixel"]
    lines = [
        f"file        {args.input} (.clric version {info['version']})",
        f"image       {info['width']}×{info['height']} pixels, VAE {info['vae']} "
        f"(scaling {info['vae_scaling_factor']:.6g})",
        f"size        {info['bytes']} bytes = {info['bpp']:.4f} bpp "
        f"(header {info['header_bytes']} B, weights {info['weights_bits']} b, "
        f"grids {info['grids_bits']} b)",
        f"estimated   {info['estimated_bits']:.0f} bits ({info['estimated_bpp']:.4f} bpp, "
        "no header)",
        f"encoder     preset {info['preset']}, λ={info['lmbda']:.6g}",
        f"decoder     {arch['n_levels']} levels ({info['n_grids']} grids), ARM "
        f"{arch['arm_context']} ctx × {arch['arm_hidden_layers']} layers, "
        f"synthesis {arch['synthesis']}, {mac:.1f} MAC/pixel",
        _work_line(info["decode_work"]),
    ]
    print("\n".join(lines))
    return 0


def _work_line(work: dict) -> str:
    """The ``work`` line of ``clric info``."""
    vae = (f"VAE decoder {work['vae_gmac']:.3g} GMAC" if work["vae_gmac"] is not None
           else "VAE decoder unknown (not a built-in VAE)")
    verdict = "within" if work["megapixel_equivalents"] <= work["default_limit"] else "ABOVE"
    return (f"work        f_ψ {work['f_psi_gmac']:.3g} GMAC, {vae}; "
            f"{work['megapixel_equivalents']:.3g} megapixel-equivalents, {verdict} the "
            f"default limit of {work['default_limit']:g} (--max-work)")
