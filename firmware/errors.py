"""User-facing errors: each one prints as a single line that names the file or field and what
was expected, so a player on stage (or the journal) can tell what went wrong."""


class HitarError(Exception):
    """Base of every error the command line reports as one line instead of a traceback."""


class ConfigError(HitarError):
    """A board profile, a TOML file or a command-line value is malformed or out of range."""


class BundleError(HitarError):
    """A model bundle is missing, corrupt, or built for other feature parameters."""


class InputFileError(HitarError):
    """An input recording or label file cannot be used (format, rate, channels, content)."""


class AudioDeviceError(HitarError):
    """An ALSA device cannot be opened or configured as the profile asks."""
