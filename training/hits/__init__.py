"""Hit models: datasets, architectures, training and evaluation (workstation side)."""
