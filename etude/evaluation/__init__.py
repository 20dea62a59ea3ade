"""Evaluation: metrics computed over a whole split (update per batch, compute once, merge across processes), task
figures and run reports. Seed 000's third module, beside data and models."""
