"""Measurement protocols written against the Chip interface; they emit records to a sink and
never touch files or the simulator directly. See ../shared/DESIGN.md, section Protocols."""
