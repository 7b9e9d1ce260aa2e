"""InterInv: learn an interaction between two subjects as three textual-inversion tokens."""

__version__ = "0.1.0"
