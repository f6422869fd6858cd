"""Samplewise's training and sampling engine: pure PyTorch, no Django."""
