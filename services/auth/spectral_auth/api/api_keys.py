"""HTTP API: api_keys."""

from flask import Blueprint

from spectral_shared.web.openapi import ApiDoc

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("api_keys", __name__)
