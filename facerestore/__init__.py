"""facerestore: restore degraded face photos with small convolutional networks."""

__version__ = "0.1.0"
