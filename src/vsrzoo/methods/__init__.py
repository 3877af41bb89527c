"""Registered methods; importing this package registers them all."""

from vsrzoo.methods.base import VSRMethod
from vsrzoo.methods.bicubic import Bicubic
from vsrzoo.methods.instavsr import InstaVSR  # noqa: F401
from vsrzoo.methods.liftvsr import LiftVSR  # noqa: F401
from vsrzoo.methods.litevsr import LiteVSR  # noqa: F401
from vsrzoo.methods.simplegvr import SimpleGVR  # noqa: F401

__all__ = ["Bicubic", "VSRMethod"]
