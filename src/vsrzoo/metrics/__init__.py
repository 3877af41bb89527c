"""vsrzoo.metrics"""
