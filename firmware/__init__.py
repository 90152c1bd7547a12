"""Firmware of the augmented acoustic guitar: runs on the board, never imports TensorFlow.

Shape convention everywhere: audio blocks are ``(frames, channels)`` float32 arrays.
"""

__version__ = "0.1.0"
