"""fotrain simulation bridges: Amaranth-simulator helpers and Amaranth -> Verilog -> cocotb."""

__all__: list[str] = []
