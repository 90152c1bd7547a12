"""Losses of the envelope model, and the weights that make a level error cost what it costs the
render.

The goal is measured on audio (SNR of the voice render against the true render), while the
network is trained on levels. A level's error reaches the audio in two ways: a carrier's
relative error delta changes the output by delta x its amplitude; a modulator's changes the
phase of every operator it modulates by 2 pi OL delta, which changes the output by that much
times what a phase change of those operators costs. Linearised (small errors, feedback left
out), the output amplitude an operator's relative error costs is

    w_j = OL_j * (gain if j is a carrier + 2 pi * sum of w_k over the operators k that j
                  modulates)

(w_k is also what a phase change of one radian in operator k costs the output).

computed from the carriers upwards; `render_weights` gives it per hop from the true levels. A
loss of sum_j w_j |log OL'_j - log OL_j| is then the error amplitude of the render, the
quantity the SNR divides by: a carrier's term is about its plain L1 error, a modulator's is
scaled by how much it moves the carriers, and an operator that is silent at the moment costs
nothing, whatever its relative error.

Losses (`TrainConfig.loss`):

- "l1": mean absolute level error, every operator alike (the reference paper's loss);
- "render": sum_j w_j |log OL'_j - log OL_j|, normalised by the training set's mean weight.
"""

import math

import numpy as np

from firmware.dx7 import Patch, algorithm
from firmware.dx7.patch import N_OPERATORS

LOSSES = ("l1", "render")
CARRIER_GAIN = 0.5
"""firmware.dx7.SynthConfig.output_gain: a carrier's amplitude in the output per unit OL."""


def render_weights(patch: Patch, levels: np.ndarray) -> np.ndarray:
    """Output amplitude per unit relative error of each operator's level (see the module doc).

    Args:
        levels: true operator levels OL, float32 [frames, 6], OP1 first.

    Returns:
        float32 [frames, 6], >= 0.
    """
    chart = algorithm(patch.algorithm)
    weights = np.zeros_like(levels, dtype=np.float64)
    # In every DX7 algorithm a modulator has a higher number than what it modulates, so
    # operators in number order have their destinations' weights ready.
    for op in range(1, N_OPERATORS + 1):
        through = sum(weights[:, dst - 1] for src, dst in chart.modulations if src == op)
        carrier = CARRIER_GAIN if op in chart.carriers else 0.0
        weights[:, op - 1] = levels[:, op - 1] * (carrier + 2.0 * math.pi * through)
    return weights.astype(np.float32)
