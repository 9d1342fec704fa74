"""``[local]`` config section: local-learning rules (tpSGD, DRTP, DFA, shallow, BP reference).

Owned by the local-learning work; see ``fotrain.sw.local`` for the rules themselves.
"""

from dataclasses import dataclass
from typing import ClassVar

from .section import Section

__all__ = ["LocalConfig"]


@dataclass(frozen=True)
class LocalConfig(Section):
    """Settings of the local (forward-only, label-projection) learning rules."""

    rule: str = "tpsgd"

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "rule": ("tpsgd", "drtp", "dfa", "sdfa", "shallow", "bp"),
    }

    def __post_init__(self) -> None:
        self.check()
