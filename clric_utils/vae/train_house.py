"""Train the ``house`` VAE: a small diffusers ``AutoencoderTiny`` with the SD latent shape.

Run ``python -m clric_utils.vae.train_house --help``. It trains from scratch on the photos in
``CLRIC_PHOTOS_DIR`` (never on Kodak, the test set), checkpoints as it goes so that a long run
can be done in pieces (``--resume``), and exports a diffusers folder with the measured latent
scaling factor and a colour-bias correction folded into the decoder's last bias.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from ..atomic import atomic_path, write_bytes_atomic, write_text_atomic
from ..errors import DatasetMissingError
from ..images import image_files, read_image
from ..paths import PHOTOS_ENV, env_path

#: The architecture of the shipped model: uniform 32-channel TAESD-style blocks.
HOUSE_ARCHITECTURE = {
    "encoder_block_out_channels": (32, 32, 32, 32),
    "decoder_block_out_channels": (32, 32, 32, 32),
    "num_encoder_blocks": (1, 3, 3, 3),
    "num_decoder_blocks": (3, 3, 3, 1),
    "latent_channels": 4,
}

#: Rescaling factors for augmentation: the photos are 1-2 MP, Kodak-like scenes are ~0.4 MP.
PYRAMID_SCALES = (1.0, 0.7, 0.5, 0.35)


@dataclass
class TrainConfig:
    """Every knob of one training run (stored in checkpoints and the model card)."""

    photos_dir: str
    out_dir: str
    steps: int = 15_000
    batch: int = 8
    crop: int = 128
    lr: float = 2e-3
    warmup: int = 200
    lpips_weight: float = 0.02
    colour_permute: float = 0.5  # probability of shuffling a crop's RGB channels
    grad_clip: float = 1.0
    seed: int = 0
    max_photos: int = 0
    checkpoint_every: int = 250
    log_every: int = 50
    device: str = "cpu"
    threads: int = 0
    precision: str = "bf16"  # mixed precision (fp32 weights): ~2× faster on CPUs with bf16


def load_photos(folder: Path, max_photos: int = 0, crop: int = 0) -> list[list[torch.Tensor]]:
    """Load every image in ``folder`` as a pyramid of uint8 CHW tensors (one per scale).

    Images are read with ``images.read_image`` (EXIF orientation, transparency, 16 bits).
    Pyramid levels smaller than ``crop`` on a side are left out (a photo with none is
    skipped), so that ``sample_batch`` can always cut a ``crop``×``crop`` patch.
    """
    files = image_files(folder)
    if max_photos:
        files = files[:max_photos]
    if not files:
        raise DatasetMissingError(f"no photos in {folder}; set {PHOTOS_ENV} or --photos-dir")
    pyramids = []
    for path in tqdm(files, desc="loading photos", leave=False):
        image = Image.fromarray(read_image(path))
        levels = []
        for scale in PYRAMID_SCALES:
            size = (round(image.width * scale), round(image.height * scale))
            if min(size) < crop:
                continue
            # Lanczos keeps downscaled photos sharp, as a camera at that resolution would be.
            scaled = image if scale == 1.0 else image.resize(size, Image.Resampling.LANCZOS)
            levels.append(torch.from_numpy(np.array(scaled)).permute(2, 0, 1).contiguous())
        if levels:
            pyramids.append(levels)
    if not pyramids:
        raise DatasetMissingError(f"no photo in {folder} has both sides of at least {crop} pixels")
    return pyramids


def sample_batch(
    pyramids: list[list[torch.Tensor]], batch: int, crop: int, rng: random.Random,
    colour_permute: float = 0.0,
) -> torch.Tensor:
    """Random crops (random photo, scale and position, random horizontal flip) in [-1, 1].

    With probability ``colour_permute`` a crop's RGB channels are shuffled: 35 photos hold
    few saturated greens, and a decoder that has seen every hue keeps colours neutral on
    scenes unlike its training set.
    """
    crops = []
    for _ in range(batch):
        levels = pyramids[rng.randrange(len(pyramids))]
        image = levels[rng.randrange(len(levels))]
        _, height, width = image.shape
        top, left = rng.randrange(height - crop + 1), rng.randrange(width - crop + 1)
        patch = image[:, top : top + crop, left : left + crop]
        if rng.random() < 0.5:
            patch = patch.flip(-1)
        # Draw only when enabled, so runs without the option keep their earlier random stream.
        if colour_permute and rng.random() < colour_permute:
            patch = patch[rng.sample(range(3), 3)]
        crops.append(patch)
    return torch.stack(crops).float().div(127.5).sub(1.0)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to zero over ``config.steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * progress))


def build_model():
    """A freshly initialised ``AutoencoderTiny`` with the house architecture."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny(**HOUSE_ARCHITECTURE)


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Run (or continue) training; return the path of the last checkpoint."""
    from ..metrics.lpips_offline import load_lpips

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / "checkpoint.pt"

    model = build_model().to(config.device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = random.Random(config.seed)
    step, seconds = 0, 0.0
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=config.device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, seconds = state["step"], state["seconds"]

    pyramids = load_photos(Path(config.photos_dir), config.max_photos, config.crop)
    perceptual = load_lpips("alex", config.device) if config.lpips_weight > 0 else None
    history_path = out_dir / "history.jsonl"

    def save_checkpoint() -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "seconds": seconds,
            "config": asdict(config),
        }
        with atomic_path(checkpoint_path) as temporary:  # never a half-written file
            torch.save(state, temporary)

    model.train()
    progress = tqdm(total=config.steps, initial=step, desc="house VAE", dynamic_ncols=True)
    while step < config.steps:
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        target = sample_batch(pyramids, config.batch, config.crop, rng, config.colour_permute).to(
            config.device, memory_format=torch.channels_last
        )
        autocast = torch.autocast(
            torch.device(config.device).type, dtype=torch.bfloat16,
            enabled=config.precision == "bf16",
        )
        with autocast:
            reconstruction = model.decoder(model.encoder(target)).float()
            perceptual_loss = (
                perceptual(reconstruction, target).mean() if perceptual is not None else 0.0
            )
        mse = F.mse_loss(reconstruction, target)
        loss = mse + config.lpips_weight * perceptual_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        seconds += time.perf_counter() - started
        # PSNR of images in [-1, 1]: the peak-to-peak range is 2, so peak² = 4.
        psnr = 10 * math.log10(4.0 / max(mse.item(), 1e-12))
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.4f}", psnr=f"{psnr:.2f}")
        if step % config.log_every == 0:
            with history_path.open("a") as log:
                log.write(json.dumps({"step": step, "loss": loss.item(), "psnr": psnr}) + "\n")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint()
    progress.close()
    if not checkpoint_path.exists():
        save_checkpoint()
    return checkpoint_path


@torch.no_grad()
def export(checkpoint_path: Path, export_dir: Path, photos_dir: Path, max_photos: int = 0) -> dict:
    """Write the diffusers folder: fp16 weights, measured scaling factor, colour-bias fix."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    model = build_model()
    model.load_state_dict(state["model"])
    model.eval()
    pyramids = load_photos(photos_dir, max_photos)

    latent_sq_sum, latent_count = 0.0, 0
    bias_sum, pixel_count = torch.zeros(3, dtype=torch.float64), 0
    for levels in tqdm(pyramids, desc="measuring scale and colour bias", leave=False):
        # Measure at the scale closest to Kodak's ~0.4 MP, cropped to a multiple of 8.
        image = levels[PYRAMID_SCALES.index(0.5)]
        height, width = image.shape[1] // 8 * 8, image.shape[2] // 8 * 8
        x = image[:, :height, :width][None].float().div(127.5).sub(1.0)
        latent = model.encoder(x)
        latent_sq_sum += latent.double().pow(2).sum().item()
        latent_count += latent.numel()
        bias_sum += (model.decoder(latent) - x).double().sum(dim=(0, 2, 3))
        pixel_count += height * width
    # SD's 0.18215 plays this role: 1 / RMS of the raw latents (their mean is near zero).
    scaling_factor = 1.0 / math.sqrt(latent_sq_sum / latent_count)
    colour_bias = (bias_sum / pixel_count).float()
    # The decoder's output is 2·raw − 1, so a bias b in [-1, 1] units is b/2 in raw units.
    last_conv = model.decoder.layers[-1]
    last_conv.bias -= colour_bias / 2

    model.register_to_config(scaling_factor=round(scaling_factor, 6))
    export_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=export_dir) as staging:  # then each file atomically
        model.to(torch.float16).save_pretrained(staging, safe_serialization=True)
        for written in sorted(Path(staging).iterdir()):
            write_bytes_atomic(export_dir / written.name, written.read_bytes())
    summary = {
        "steps": state["step"],
        "train_seconds": round(state["seconds"], 1),
        "scaling_factor": round(scaling_factor, 6),
        "colour_bias_fixed_levels": [round(float(b) * 127.5, 3) for b in colour_bias],
        "config": state["config"],
    }
    write_text_atomic(export_dir / "training_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def training_parser(description: str, config_class, out_dir: str,
                    export_help: str) -> argparse.ArgumentParser:
    """The options of a training command: paths, resume/export, and one per config field."""
    defaults = config_class(photos_dir="", out_dir="")
    photos = env_path(PHOTOS_ENV)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--photos-dir", default=str(photos) if photos else None, required=photos is None,
        help=f"training photos (default: ${PHOTOS_ENV}); never Kodak",
    )
    parser.add_argument("--out-dir", default=out_dir, help="checkpoints and logs")
    parser.add_argument("--export-dir", default=None, help=export_help)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--export-only", action="store_true", help="skip training, export only")
    for field in fields(config_class):
        if field.name in ("photos_dir", "out_dir"):  # declared above, with their own defaults
            continue
        value = getattr(defaults, field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(value), default=value)
    return parser


def config_from(args: argparse.Namespace, config_class):
    """The config dataclass of parsed training options."""
    return config_class(**{field.name: getattr(args, field.name) for field in fields(config_class)})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = training_parser(__doc__.splitlines()[0], TrainConfig, "build/house_vae",
                             "write the diffusers folder here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m clric_utils.vae.train_house``."""
    args = parse_args(argv)
    config = config_from(args, TrainConfig)
    checkpoint = Path(config.out_dir) / "checkpoint.pt"
    if not args.export_only:
        checkpoint = train(config, resume=args.resume)
    if args.export_dir:
        summary = export(checkpoint, Path(args.export_dir), Path(config.photos_dir),
                         config.max_photos)
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
