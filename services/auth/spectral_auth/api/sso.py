"""HTTP API: sso."""

from flask import Blueprint

from spectral_shared.web.openapi import ApiDoc

api = ApiDoc("auth", "Spectral auth")
bp = Blueprint("sso", __name__)
