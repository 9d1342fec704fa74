"""Zeroth-order (forward-only) training in TT-core space: the float estimators and the integer
step the on-chip trainer implements."""
