"""fotrain: forward-only training of tensor-train networks, from numpy golden model to FPGA.

Subpackages: ``fotrain.sw`` (numpy golden model), ``fotrain.hw`` (Amaranth RTL), ``fotrain.sim``
(simulation bridges and benches), ``fotrain.boards`` (FPGA platforms and flows).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
