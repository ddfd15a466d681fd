"""The Chip interface protocols are written against, the chip-controller wire protocol, and the
drivers for real test chips. See ../shared/DESIGN.md, section Chips."""
