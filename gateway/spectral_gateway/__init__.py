"""Spectral gateway: the route table, the routers that follow it, and the nginx config."""
