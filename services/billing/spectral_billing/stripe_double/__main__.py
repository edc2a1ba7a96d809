"""``python -m spectral_billing.stripe_double``: serve the Stripe test double."""

import sys

from spectral_billing.stripe_double.server import main

sys.exit(main())
