"""fotrain RTL (Amaranth 0.5): blocks mirror ``fotrain.sw`` modules with the same stems."""

__all__: list[str] = []
