"""vsrzoo.blocks"""
