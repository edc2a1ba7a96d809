"""violations"""
