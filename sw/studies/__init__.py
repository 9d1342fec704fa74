"""Measurements about the model that are not part of it: ZO estimator variance, fixed-point noise
of PINN derivative estimates."""
