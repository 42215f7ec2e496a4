"""tour domain."""
