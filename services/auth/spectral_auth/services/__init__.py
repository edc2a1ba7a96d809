"""Auth's use cases: the only code that writes, each recording its events in the same transaction."""

from spectral_auth.services.accounts import *  # noqa: F403
from spectral_auth.services.api_keys import *  # noqa: F403
from spectral_auth.services.authorization import *  # noqa: F403
from spectral_auth.services.mfa import *  # noqa: F403
from spectral_auth.services.passwords import *  # noqa: F403
from spectral_auth.services.platform import *  # noqa: F403
from spectral_auth.services.registration import *  # noqa: F403
from spectral_auth.services.sessions import *  # noqa: F403
from spectral_auth.services.sso import *  # noqa: F403
from spectral_auth.services.tokens import *  # noqa: F403
