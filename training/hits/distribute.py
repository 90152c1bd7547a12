"""Data-parallel training on a multi-GPU workstation (tf.distribute.MirroredStrategy).

Each replica holds a copy of the model and gets a slice of every batch; gradients are summed
across replicas before each update, so a run with the same global batch learns as one device
would. On a machine without GPUs the CPU can be split into logical devices, one per replica:
that is how the strategy is tested for real without a GPU.
"""

import logging

import tensorflow as tf

from firmware.errors import ConfigError

log = logging.getLogger(__name__)


def mirrored_strategy(cpu_replicas: int = 0) -> tf.distribute.Strategy:
    """A MirroredStrategy over every GPU, or over cpu_replicas logical CPU devices.

    Must run before TensorFlow first touches a device (before any model is built).

    Args:
        cpu_replicas: 0: use the GPUs (all of them); >= 2: split the CPU into this many
            logical devices and mirror over them (on a GPU machine too).

    Raises:
        ConfigError: no GPU and no CPU split asked for, or the devices are already in use.
    """
    if cpu_replicas:
        if cpu_replicas < 2:
            raise ConfigError(f"--cpu-replicas must be >= 2, got {cpu_replicas}")
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
            )
        except RuntimeError as error:
            raise ConfigError(f"cannot split the CPU into replicas: {error}") from None
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices[:cpu_replicas])
    else:
        if not tf.config.list_physical_devices("GPU"):
            raise ConfigError(
                "--distribute: no GPU visible to TensorFlow (give --cpu-replicas N to mirror "
                "over CPU devices)"
            )
        strategy = tf.distribute.MirroredStrategy()
    log.info("distributing over %d replicas", strategy.num_replicas_in_sync)
    return strategy
