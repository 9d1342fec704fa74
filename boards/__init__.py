"""fotrain FPGA boards: platforms, tops and synthesis flows (iCE40, ECP5)."""

__all__: list[str] = []
