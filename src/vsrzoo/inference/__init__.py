"""vsrzoo.inference"""
