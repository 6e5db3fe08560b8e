import numpy as np


def load_rings(n=600, noise=0.1):
    """two noisy concentric rings in the plane, one class each"""
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 1.0 + label + rng.normal(0, noise, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x.astype(np.float32), label


def load_misshapen():
    """labels that do not match the examples, to show the error a user sees"""
    return np.zeros((10, 2), dtype=np.float32), np.zeros(7, dtype=np.int64)
