"""Training for the tuning arms: batching, the shared loop, memory measurement."""
