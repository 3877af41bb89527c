"""vsrzoo.backbones"""
