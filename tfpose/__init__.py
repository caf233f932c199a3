"""tfpose: lift 2D human keypoints to 3D (Martinez baseline, ASN, RepGAN)."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("tfpose")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
