"""factory domain."""
