"""The lifting models: Martinez baseline, ASN, RepGAN; ``build`` by name."""

from __future__ import annotations

import keras

from tfpose.models.asn import ASN, VARIANTS as ASN_VARIANTS
from tfpose.models.baseline import Baseline
from tfpose.models.repgan import Discriminator, Generator, RepGAN, Reprojector, pose_from_depth

MODELS = {"baseline": Baseline, "asn": ASN, "repgan": RepGAN}


def build(kind: str, **kwargs) -> keras.Model:
    """``build("asn", skeleton_in="h36m16", skeleton_out="h36m17", ...)``."""
    try:
        cls = MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(MODELS)}") from None
    return cls(**kwargs)


__all__ = ["ASN", "ASN_VARIANTS", "Baseline", "Discriminator", "Generator", "MODELS",
           "RepGAN", "Reprojector", "build", "pose_from_depth"]
