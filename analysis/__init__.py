"""Pure functions from xarray Datasets to fitted device models and figures. See
../shared/DESIGN.md, section Analysis."""
