"""The FM voice's envelope model (workstation side): phrases, datasets, training, evaluation.

After Caspe, McPherson and Sandler, "FM Tone Transfer with Envelope Learning" (Audio Mostly
2023): a GRU learns the operator output levels of one DX7 patch from the pickup's normalised
pitch and loudness, against the patch's own envelope generators; the synth is never run while
training. See docs/FM_VOICE.md.
"""
