"""Conv type registry and the stack builders (one per framework), all fed the same weights."""
