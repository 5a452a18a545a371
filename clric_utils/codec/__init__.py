"""The overfitted latent codec: one concept per module (Cool-chic / C3 style).

``arch`` (sizes and presets) → ``grids`` (hierarchical latents) → ``quantizer`` →
``arm`` (autoregressive Laplace model) → ``upsampling`` → ``synthesis`` → ``model``.
"""
