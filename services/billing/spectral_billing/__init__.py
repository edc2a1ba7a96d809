"""Spectral billing: plans, Stripe subscriptions, usage and entitlements."""

from functools import partial

from spectral_shared.component import standalone_app

create_app = partial(standalone_app, "billing")
