"""Spectral gateway: the route table, the routers that follow it, and (issue #4) the nginx config."""
