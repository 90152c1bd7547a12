"""The DX7 core of the FM voice: patches and SysEx banks, envelope generators, algorithms and
the block-based FM synth that renders from six operator output levels."""
