"""CLRIC companion: an overfitted latent image codec and the tools to study it."""

__version__ = "0.4.0"
