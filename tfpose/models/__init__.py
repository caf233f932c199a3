"""The lifting models: Martinez baseline, ASN, RepGAN; ``build`` by name (see ``registry``)."""

from __future__ import annotations

import keras

from tfpose.models.asn import ASN, VARIANTS as ASN_VARIANTS
from tfpose.models.baseline import Baseline
from tfpose.models.repgan import Discriminator, Generator, RepGAN, Reprojector, pose_from_depth
from tfpose.models import registry


def build(kind: str, **kwargs) -> keras.Model:
    """``build("asn", skeleton_in="h36m16", skeleton_out="h36m17", ...)``."""
    return registry.get(kind).model_class(**kwargs)


__all__ = ["ASN", "ASN_VARIANTS", "Baseline", "Discriminator", "Generator",
           "RepGAN", "Reprojector", "build", "pose_from_depth", "registry"]
