"""Train ``taef2-c4``: TAEF2 squeezed to 4 latent channels with a perceptual decoder.

Run ``python -m clric_utils.vae.train_taef2_c4 --help``. It trains on the photos in
``CLRIC_PHOTOS_DIR`` (never Kodak, the test set), checkpoints as it goes so that a long run can
be done in pieces (``--resume``), and exports the package's weight file with the measured
scaling factor. The loss of one batch of crops ``x`` (images in [−1, 1]) is

.. math::
    \\mathcal L = \\lVert x-\\hat x\\rVert^2
      + w_c \\lVert \\mathrm{pool}_8(x)-\\mathrm{pool}_8(\\hat x)\\rVert^2
      + w_p\\,\\mathrm{LPIPS}(x,\\hat x)
      + w_z \\lVert L(\\tilde y)-E_{\\mathrm{TAEF2}}(x)\\rVert^2
      - w_a\\,\\mathbb E[\\mathrm{Disc}(\\hat x)],
    \\qquad \\hat x = D(L(\\tilde y)),\\ \\tilde y = y + u\\cdot a,

where ``u`` is uniform noise in [−½, ½] and ``a`` a per-crop amplitude drawn in [0, ``noise``]:
the decoder learns to draw a picture from a latent with coding error in it, as CLRIC's ŷ has.
The colour term compares 8×8 block means (the probe without it drifted hues). The adversarial
term (hinge loss, a small patch discriminator as in the latent-diffusion autoencoders) starts
after ``adversarial_start`` steps, once reconstructions are close.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..atomic import atomic_path, write_text_atomic
from .registry import TAEF2_DIR
from .taef2 import load_taef2
from .taef2_c4 import WEIGHTS_FILE, Taef2C4
from .train_house import PYRAMID_SCALES, config_from, load_photos, sample_batch, training_parser


@dataclass
class TrainConfig:
    """Every knob of one training run (stored in checkpoints and the model card)."""

    photos_dir: str
    out_dir: str
    steps: int = 6_000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-3  # squeeze and lift
    decoder_lr: float = 1e-4  # TAEF2's decoder, fine-tuned (0: frozen)
    warmup: int = 100
    colour_weight: float = 1.0
    lpips_weight: float = 0.1
    latent_weight: float = 0.1
    adversarial_weight: float = 0.02
    adversarial_start: int = 2_000
    discriminator_lr: float = 2e-4
    noise: float = 1.0  # largest width of the uniform noise on the 4-channel latent
    colour_permute: float = 0.25
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 25
    device: str = "cpu"
    threads: int = 0
    precision: str = "bf16"  # mixed precision (fp32 weights): ~2× faster on CPUs with bf16


def discriminator() -> nn.Sequential:
    """A patch discriminator: one logit per 8×8 pixel patch (hinge loss; ≈ 0.2 M parameters)."""
    def down(n_in: int, n_out: int) -> list[nn.Module]:
        return [nn.Conv2d(n_in, n_out, 4, stride=2, padding=1), nn.GroupNorm(8, n_out),
                nn.LeakyReLU(0.2)]

    return nn.Sequential(nn.Conv2d(3, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                         *down(32, 64), *down(64, 128), nn.Conv2d(128, 1, 3, padding=1))


def learning_rate(step: int, config: TrainConfig, peak: float) -> float:
    """Linear warm-up, then cosine decay to 5 % of ``peak`` over ``config.steps``."""
    if step < config.warmup:
        return peak * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Run (or continue) training; return the path of the last checkpoint."""
    from ..metrics.lpips_offline import load_lpips

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / "checkpoint.pt"

    model = Taef2C4(load_taef2(TAEF2_DIR)).to(config.device)
    model.requires_grad_(True)
    model.taef2_encoder.requires_grad_(False).eval()  # the teacher's latent stays fixed
    critic = discriminator().to(config.device)
    groups = [{"params": [*model.squeeze.parameters(), *model.lift.parameters()],
               "peak": config.lr}]
    if config.decoder_lr > 0:
        groups.append({"params": list(model.taef2_decoder.parameters()), "peak": config.decoder_lr})
    else:
        model.taef2_decoder.requires_grad_(False)
    optimizer = torch.optim.Adam(groups, lr=config.lr)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.discriminator_lr,
                                        betas=(0.5, 0.9))
    rng = random.Random(config.seed)
    step, seconds = 0, 0.0
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=config.device, weights_only=False)
        model.load_state_dict(state["model"])
        critic.load_state_dict(state["critic"])
        optimizer.load_state_dict(state["optimizer"])
        critic_optimizer.load_state_dict(state["critic_optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, seconds = state["step"], state["seconds"]

    pyramids = load_photos(Path(config.photos_dir), 0, config.crop)
    perceptual = load_lpips("alex", config.device)
    history_path = out_dir / "history.jsonl"

    def save_checkpoint() -> None:
        state = {
            "model": model.state_dict(), "critic": critic.state_dict(),
            "optimizer": optimizer.state_dict(), "critic_optimizer": critic_optimizer.state_dict(),
            "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
            "step": step, "seconds": seconds, "config": asdict(config),
        }
        with atomic_path(checkpoint_path) as temporary:  # never a half-written file
            torch.save(state, temporary)

    autocast = torch.autocast(torch.device(config.device).type, dtype=torch.bfloat16,
                              enabled=config.precision == "bf16")
    model.squeeze.train(), model.lift.train(), model.taef2_decoder.train()
    progress = tqdm(total=config.steps, initial=step, desc="taef2-c4", dynamic_ncols=True)
    while step < config.steps:
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config, group["peak"])
        x = sample_batch(pyramids, config.batch, config.crop, rng, config.colour_permute)
        x = x.to(config.device)
        with torch.no_grad(), autocast:
            teacher = model.taef2_encoder(x.add(1).div(2)).float()
        y = model.squeeze(teacher)
        amplitude = torch.rand(y.shape[0], 1, 1, 1, device=y.device) * config.noise
        lifted = model.lift(y + (torch.rand_like(y) - 0.5) * amplitude)
        with autocast:
            x_hat = model.taef2_decoder(lifted).mul(2).sub(1).float()
        mse = F.mse_loss(x_hat, x)
        terms = {
            "mse": mse,
            "colour": F.mse_loss(F.avg_pool2d(x_hat, 8), F.avg_pool2d(x, 8)),
            "lpips": perceptual(x_hat, x).float().mean(),
            "latent": F.mse_loss(lifted, teacher),
        }
        loss = (mse + config.colour_weight * terms["colour"]
                + config.lpips_weight * terms["lpips"] + config.latent_weight * terms["latent"])
        adversarial = step >= config.adversarial_start and config.adversarial_weight > 0
        if adversarial:
            critic.requires_grad_(False)
            terms["generator"] = -critic(x_hat).mean()
            loss = loss + config.adversarial_weight * terms["generator"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for group in groups for p in group["params"]], config.grad_clip)
        optimizer.step()
        if adversarial:  # hinge loss: real patches above +1, decoded ones below −1
            critic.requires_grad_(True)
            critic_loss = (F.relu(1 - critic(x)).mean()
                           + F.relu(1 + critic(x_hat.detach())).mean())
            critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            critic_optimizer.step()
            terms["critic"] = critic_loss
        step += 1
        seconds += time.perf_counter() - started
        # PSNR of images in [-1, 1]: the peak-to-peak range is 2, so peak² = 4.
        psnr = 10 * math.log10(4.0 / max(mse.item(), 1e-12))
        progress.update(1)
        progress.set_postfix(psnr=f"{psnr:.2f}", lpips=f"{terms['lpips'].item():.3f}")
        if step % config.log_every == 0:
            record = {"step": step, "seconds": round(seconds, 1), "psnr": round(psnr, 3),
                      **{k: round(v.item(), 5) for k, v in terms.items()}}
            with history_path.open("a") as log:
                log.write(json.dumps(record) + "\n")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint()
    progress.close()
    if not checkpoint_path.exists():
        save_checkpoint()
    return checkpoint_path


@torch.no_grad()
def export(checkpoint_path: Path, export_dir: Path, photos_dir: Path) -> dict:
    """Write ``taef2_c4.pth`` (float16) and ``training_summary.json`` with the latent's RMS."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    model = Taef2C4(load_taef2(TAEF2_DIR))
    model.load_state_dict(state["model"])
    images = []
    for levels in load_photos(photos_dir):
        image = levels[PYRAMID_SCALES.index(0.5)]  # the scale closest to Kodak's ~0.4 MP
        height, width = image.shape[1] // 8 * 8, image.shape[2] // 8 * 8
        images.append(image[:, :height, :width][None].float().div(127.5).sub(1.0))
    # The normalisation's statistics, measured again on whole photos with the final squeeze
    # (training kept a running average over crops while the squeeze was still changing).
    normalisation = model.squeeze[-1]
    normalisation.reset_running_stats()
    normalisation.momentum = None  # a plain average over every call
    model.squeeze.train()
    for image in tqdm(images, desc="measuring the latent", leave=False):
        model.encode(image)
    model.eval()
    square_sum, count = 0.0, 0
    for image in images:
        latent = model.encode(image).latents
        square_sum += latent.double().pow(2).sum().item()
        count += latent.numel()
    rms = math.sqrt(square_sum / count)
    export_dir.mkdir(parents=True, exist_ok=True)
    weights = {k: v.half() if v.is_floating_point() else v
               for k, v in model.trained_state().items()}
    with atomic_path(export_dir / WEIGHTS_FILE) as temporary:
        torch.save(weights, temporary)
    summary = {
        "steps": state["step"],
        "train_seconds": round(state["seconds"], 1),
        "latent_rms_on_photos": round(rms, 4),
        "config": state["config"],
    }
    write_text_atomic(export_dir / "training_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = training_parser(__doc__.splitlines()[0], TrainConfig, "build/taef2_c4",
                             "write the weight file here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m clric_utils.vae.train_taef2_c4``."""
    args = parse_args(argv)
    config = config_from(args, TrainConfig)
    checkpoint = Path(config.out_dir) / "checkpoint.pt"
    if not args.export_only:
        checkpoint = train(config, resume=args.resume)
    if args.export_dir:
        print(json.dumps(export(checkpoint, Path(args.export_dir), Path(config.photos_dir)),
                         indent=2))


if __name__ == "__main__":
    main()
