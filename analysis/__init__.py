"""Analysis reads only the results store; it never runs a model."""
