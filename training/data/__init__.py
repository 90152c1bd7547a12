"""Real recordings for retraining: label files, sessions, single-hit corpora, hydrogen drum
kits, augmentation and group splits, all built into one container (dataset.HitDataset).

numpy, scipy and soundfile only: no TensorFlow here. See docs/DATA.md.
"""
