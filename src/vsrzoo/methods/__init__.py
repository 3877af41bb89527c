"""Registered methods; importing this package registers them all."""

from vsrzoo.methods.base import VSRMethod
from vsrzoo.methods.bicubic import Bicubic

__all__ = ["Bicubic", "VSRMethod"]
