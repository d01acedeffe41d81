"""Damage: how degraded an image is, on one scale shared by training and the runtime."""
