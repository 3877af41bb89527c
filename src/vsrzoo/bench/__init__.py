"""vsrzoo.bench"""
