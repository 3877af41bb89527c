"""vsrzoo.diffusion"""
