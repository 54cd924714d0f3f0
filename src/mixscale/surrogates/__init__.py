"""Surrogate models and the acquisition pieces BoTorch does not provide."""
