"""Real networks' conv skeletons: one module per network, listing its layers from the published definition.
Adding a network is one module here and one line in NETWORKS."""

from __future__ import annotations

from types import ModuleType

from convbench.models.networks import efficientnet_b0, mobilenet_v2, resnet50

NETWORKS: dict[str, ModuleType] = {"mobilenet_v2": mobilenet_v2, "resnet50": resnet50,
                                   "efficientnet_b0": efficientnet_b0}
NETWORK_IMAGE = 224  # every network is timed at its ImageNet input size
