"""The instrument's sensor layout: which input channel carries which sensor.

Every module indexes channels through these names, so that a board whose interface orders
its inputs differently only changes its profile's channel map, never the code.
"""

SAMPLE_RATE_HZ = 48_000
"""The rate every model and default configuration is built for."""

PIEZO_NAMES: tuple[str, ...] = ("piezo1", "piezo2", "piezo3", "piezo4", "piezo5")
"""The five body sensors, one per sensor area (the hit *locations*)."""

PICKUP_NAME = "pickup"
"""The magnetic string pickup: drives the FM voice, is ignored by the hit detector."""

CHANNEL_NAMES: tuple[str, ...] = (*PIEZO_NAMES, PICKUP_NAME)
"""Logical channel order of every block inside the firmware: piezo1..piezo5, pickup."""

N_CHANNELS = len(CHANNEL_NAMES)
N_PIEZOS = len(PIEZO_NAMES)
PIEZO_CHANNELS = slice(0, N_PIEZOS)
PICKUP_CHANNEL = N_PIEZOS

HAND_PARTS: tuple[str, ...] = ("heel", "thumb", "fingers", "nails")
"""Hand-part classes, in the order the shipped hit models output them."""

LOCATIONS: tuple[str, ...] = PIEZO_NAMES
"""Location classes: the sensor area that was hit, named after its sensor."""
