"""The package version, kept apart so importing it is cheap."""

__version__ = "0.1.0"
