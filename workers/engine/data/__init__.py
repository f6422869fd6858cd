"""Dataset loaders and the content-addressed store behind ``workers.engine.datasets``."""
