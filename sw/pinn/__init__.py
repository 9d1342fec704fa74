"""Physics-informed training without backprop: PDE problems, sparse-grid Stein and
finite-difference derivative stencils, collocation and the float and fixed-point methods."""
