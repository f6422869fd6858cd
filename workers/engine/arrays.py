"""Canonical in-memory form of a dataset, shared by loaders and the training loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Input kinds: "image" (uint8, N×C×H×W), "sequence" (float32, N×L: 1-D
# signals such as MNIST-1D), "features" (float32, N×D tabular rows).
INPUT_KINDS = ("image", "sequence", "features")


@dataclass
class ArrayDataset:
    x_train: np.ndarray
    y_train: np.ndarray  # int64 class indices
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    kind: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])
