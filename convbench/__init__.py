"""convbench: what each kind of convolution really costs, in each framework and runtime."""

__version__ = "0.1.0"
