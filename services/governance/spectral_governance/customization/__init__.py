"""customization"""
