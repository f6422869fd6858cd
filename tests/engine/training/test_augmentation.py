"""Batched augmentation: each example is flipped or shifted as a whole, by its own draw."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workers.engine.training import random_flip, random_translate


def test_flip_mirrors_some_examples_and_keeps_the_rest():
    images = torch.randn(64, 3, 5, 5)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(out, image.flip(2)) for out, image in zip(flipped, images, strict=True)]
    kept = [torch.equal(out, image) for out, image in zip(flipped, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 10 < sum(mirrored) < 54


def test_translate_shifts_each_image_whole_with_zero_fill():
    pad = 2
    images = torch.randn(32, 3, 6, 7)
    shifted = random_translate(images, pad, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    offsets = set()
    for index in range(len(images)):
        matches = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if torch.equal(shifted[index], padded[index, :, dy : dy + 6, dx : dx + 7])
        ]
        assert matches, f"example {index} is not a shifted copy of itself"
        offsets.add(matches[0])
    assert len(offsets) > 5


def test_translate_shifts_sequences_along_their_length():
    pad = 3
    signals = torch.randn(16, 10)
    shifted = random_translate(signals, pad, torch.Generator().manual_seed(1))
    padded = F.pad(signals, (pad, pad))
    for index in range(len(signals)):
        assert any(torch.equal(shifted[index], padded[index, s : s + 10]) for s in range(2 * pad + 1))
