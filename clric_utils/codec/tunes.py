"""The names of the fit's distortions ("tunes") and the weights of those through the decoder.

Kept apart from ``distortion.py`` (which needs torch) so that the command line can list them
without importing torch.
"""

#: Tunes: what ``DecodedDistortion`` adds to the latent MSE, as (β_pix, β_lp), pixel MSE on
#: [-1, 1] pixels. Chosen on kodim23 (``house``, ``wide``/``fast``, λ = 1, docs/codec.md §10)
#: with the first form of the tune (12×12 tiles, no margin, target g(y)): (10, 0.1), (10, 0.3)
#: and (10, 1) gave LPIPS-alex 0.286, 0.281, 0.258 at 0.085, 0.089, 0.107 bpp and 25.5, 25.3,
#: 25.2 dB; (30, 0) gave 0.303 at 0.083 bpp, 25.6 dB. The middle one kept most of the LPIPS
#: gain at the smaller loss of PSNR.
TUNE_WEIGHTS: dict[str, tuple[float, float]] = {"pixel": (30.0, 0.0), "perceptual": (10.0, 0.3)}


#: Names of the fit's distortions (``api.compress(tune=...)``, ``clric encode --tune``): the
#: two latent ones, then the tunes through the decoder.
TUNES = ("latent", "weighted-latent", *TUNE_WEIGHTS)
