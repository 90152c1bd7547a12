"""The envelope model (Keras): a GRU and a read-out of the six operator levels.

After Caspe et al. (GRU(128) + Linear(6), about 51.5 k parameters, one model per patch), with
two fixed or tiny additions: the inputs are scaled by the training set's statistics, and the
read-out is exponential, OL = exp(Dense(h)). An envelope generator moves on a log scale (a
decay is a straight line in dB), so the GRU has to produce straight lines, not exponentials,
and a level's error is relative, as the ear hears it. It is
trained on whole sequences and exported as a single step whose recurrent state is an explicit
input and output, so that the board owns the state (and resets it on silence) and the
converter sees no stateful layer:

    (inputs [1, 1, 2], state [1, H]) -> (levels [1, 6], state_out [1, H])

The step model is built from the trained sequence model's own layer configuration and
weights, so both compute the same function; tests/test_voice_training.py checks it through
TFLite.
"""

import keras
import numpy as np

from firmware.dx7.patch import N_OPERATORS
from firmware.voice import INPUT_NAME, LEVELS_NAME, STATE_NAME, STATE_OUT_NAME

SCALING_NAME = "scaling"
GRU_NAME = "gru"
READOUT_NAME = "readout"
CHRONO_MAX_HOPS = 750
"""Longest time constant of the GRU at initialisation: one second of hops."""
INITIAL_LOG_LEVEL = -2.3
"""The read-out starts near OL 0.1 (about output level 67 at full EG level)."""


def build_sequence_model(
    state_size: int, input_mean: np.ndarray, input_std: np.ndarray, seed: int = 0
) -> keras.Model:
    """The trainable model: (inputs float32 [batch, frames, 2], state [batch, H]) ->
    {levels [batch, frames, 6], state_out [batch, H]}: the state out of one chunk of a
    sequence is the state into the next (truncated back-propagation, see train.py).

    Args:
        input_mean, input_std: per input, float32 [2], from the training set's non-silent
            hops; baked into the model (the board feeds the raw normalised pitch and loudness).
            A key is 1/127 of the pitch input: scaled, it becomes a step the GRU can resolve.
    """
    inputs = keras.Input((None, len(input_mean)), name=INPUT_NAME)
    state = keras.Input((state_size,), name=STATE_NAME)
    scaled = keras.layers.Normalization(
        mean=input_mean, variance=np.square(input_std), name=SCALING_NAME
    )(inputs)
    gru = keras.layers.GRU(state_size, return_sequences=True, return_state=True, name=GRU_NAME)
    hidden, state_out = gru(scaled, initial_state=state)
    levels = keras.layers.Dense(
        N_OPERATORS,
        activation="exponential",
        bias_initializer=keras.initializers.Constant(INITIAL_LOG_LEVEL),
        name=READOUT_NAME,
    )(hidden)
    _chrono_init(gru, seed)
    return keras.Model(
        [inputs, state],
        {LEVELS_NAME: levels, STATE_OUT_NAME: state_out},
        name=f"envelope_gru{state_size}",
    )


def _chrono_init(gru: keras.layers.GRU, seed: int) -> None:
    """Spread the GRU's memory over time scales from 2 hops to CHRONO_MAX_HOPS: update-gate
    biases log(U(1, max - 1)) give units time constants 1 + e^b in that range (Tallec and
    Ollivier, "Can recurrent neural networks warp time?", ICLR 2018). With zero biases every unit
    starts by forgetting half its state per hop, and the seconds-long envelope stages take
    far longer to learn."""
    units = gru.units
    bias = gru.cell.bias.numpy()
    rng = np.random.default_rng(seed)
    bias[0, :units] = np.log(rng.uniform(1.0, CHRONO_MAX_HOPS - 1.0, units))
    gru.cell.bias.assign(bias)


def step_model(sequence_model: keras.Model) -> keras.Model:
    """One hop of sequence_model, for a batch of one: the model that is exported.

    Inputs and outputs carry the firmware's tensor names (firmware.voice); the GRU is unrolled
    (one step: no loop in the converted graph).
    """
    layers = {
        name: sequence_model.get_layer(name) for name in (SCALING_NAME, GRU_NAME, READOUT_NAME)
    }
    state_size = layers[GRU_NAME].units
    n_inputs = sequence_model.inputs[0].shape[-1]
    inputs = keras.Input((1, n_inputs), batch_size=1, name=INPUT_NAME)
    state = keras.Input((state_size,), batch_size=1, name=STATE_NAME)
    copies = {
        SCALING_NAME: keras.layers.Normalization.from_config(layers[SCALING_NAME].get_config()),
        GRU_NAME: keras.layers.GRU.from_config(
            {
                **layers[GRU_NAME].get_config(),
                "return_sequences": False,
                "return_state": True,
                "unroll": True,
            }
        ),
        READOUT_NAME: keras.layers.Dense.from_config(layers[READOUT_NAME].get_config()),
    }
    hidden, state_out = copies[GRU_NAME](copies[SCALING_NAME](inputs), initial_state=state)
    levels = copies[READOUT_NAME](hidden)
    for name, copy in copies.items():
        copy.set_weights(layers[name].get_weights())
    return keras.Model(
        [inputs, state],
        {LEVELS_NAME: levels, STATE_OUT_NAME: state_out},
        name=f"{sequence_model.name}_step",
    )
