"""The web base every service's app factory uses."""
