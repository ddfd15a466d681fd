"""xbarlab: the application layer (CLI, campaigns, the HDF5 campaign store)."""

__version__ = "0.1.0"
