from torch import nn


def build_wide_linear(hparams, info):
    """one hidden layer of `units` units: the smallest useful classifier"""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(info.input_shape[0], hparams["units"]),
        nn.Tanh(),
        nn.Linear(hparams["units"], info.n_outputs),
    )


build_wide_linear.hyperparameters = {"units": 16}


def build_broken(hparams, info):
    """a builder that fails, to show the error a user sees"""
    raise ValueError("units must be a power of two")
