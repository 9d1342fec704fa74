"""cocotb benches (``tb_*`` modules, run by :mod:`fotrain.sim.cocotb_runner`) and their parts."""

__all__: list[str] = []
