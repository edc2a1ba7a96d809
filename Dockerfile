# Spectral's images, from one Dockerfile (the same targets as `make stack` and deploy/systemd):
#
#   docker build --build-arg SERVICE=auth -t spectral-auth .    # spectral auth web|worker|relay
#   docker build -t spectral-all .                              # SERVICE=all: every service, plus
#                                                               # spectral all, db upgrade, bus ...
#   docker build --target gateway -t spectral-gateway .         # nginx from the route table, and
#                                                               # the platform router
#
# An image holds one service's distribution (or all of them), installed from uv.lock into
# /app/.venv, and nothing else: no uv, no pip cache, no compiler, no tests. Every container runs as
# `spectral` (uid 10001), and every target listens on port 8000: a web target serves its API,
# /livez, /health and /metrics there; a worker or relay serves /livez, /health and /metrics on
# METRICS_PORT, which the image sets to the same 8000. The command picks the target:
#
#   docker run spectral-governance                    # governance web (the default command)
#   docker run spectral-governance governance worker
#
# docker-compose.yml builds and runs every target; docs/operations.md describes them.

# The base image, pinned by digest so a build is reproducible; Dependabot/Renovate refresh the
# digest (and the tag with it). Every stage starts from it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
# Which service the image holds: all, auth, governance, audit, billing or reports.
ARG SERVICE=all
# The OCI labels' version, source repository and licence (CI passes the real ones).
ARG VERSION=0.1.0
ARG SOURCE_URL=https://example.invalid/spectral.git
ARG LICENSE=LicenseRef-Proprietary

# ---- base: the interpreter and the account, shared by the build and every final image --------
FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 spectral \
    && useradd --system --uid 10001 --gid spectral --home-dir /var/lib/spectral \
        --no-create-home --shell /usr/sbin/nologin spectral \
    && install -d -o spectral -g spectral -m 0750 /var/lib/spectral
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# ---- uv: the build tool and what the lock file needs (build stages only) ---------------------
FROM base AS uv
# The Makefile's UV_VERSION.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
# Bytecode compiled at build time (the root file system is read-only at run time), files copied
# out of the cache mount, and the base image's python, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Only what the lock needs first, so the dependency layer is rebuilt only when they change.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/auth/pyproject.toml services/auth/
COPY services/governance/pyproject.toml services/governance/
COPY services/audit/pyproject.toml services/audit/
COPY services/billing/pyproject.toml services/billing/
COPY services/reports/pyproject.toml services/reports/
COPY gateway/pyproject.toml gateway/

# ---- venv: the chosen service's distribution (spectral-<SERVICE> and spectral-shared) -------
FROM uv AS venv
ARG SERVICE
RUN case "${SERVICE}" in \
        all|auth|governance|audit|billing|reports) ;; \
        *) echo "SERVICE=${SERVICE} is not a Spectral service: use all, auth, governance, audit, billing or reports" >&2; exit 1 ;; \
    esac
# Third-party dependencies from the lock, then our own packages (non-editable: the venv is
# self-contained and no source tree is copied into the final image).
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ "${SERVICE}" = all ]; then set --; else set -- --package "spectral-${SERVICE}"; fi \
    && uv sync --locked --no-dev --no-editable --no-install-workspace "$@"
COPY shared/ shared/
COPY services/ services/
COPY gateway/ gateway/
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ "${SERVICE}" = all ]; then set --; else set -- --package "spectral-${SERVICE}"; fi \
    && uv sync --locked --no-dev --no-editable "$@"

# ---- venv-all: every workspace member, whatever SERVICE says (the gateway image's) -----------
FROM uv AS venv-all
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --no-install-workspace
COPY shared/ shared/
COPY services/ services/
COPY gateway/ gateway/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# ---- gateway: nginx rendered from the route table; also runs the platform router -------------
# docker build --target gateway -t spectral-gateway .
#   (no arguments)  render the config into /tmp/gateway and run nginx in the foreground, HTTPS on
#                   8443 and HTTP (ACME challenge + 301) on 8080: unprivileged ports, so no
#                   capability is needed; publish them as 443 and 80. The certificate and key are
#                   read from TLS_CERT_PATH and TLS_KEY_PATH (mount them read-only).
#   gateway dev-router --host 0.0.0.0 --port 8000   the platform pages (/health, /api/docs)
FROM base AS gateway
ARG VERSION
ARG SOURCE_URL
ARG LICENSE
# Debian's packages are not pinned to a version: the base digest fixes the release, and a
# rebuild should take that release's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
COPY --from=venv-all /app/.venv /app/.venv
COPY --chmod=0755 deploy/docker/gateway-entrypoint.sh /usr/local/bin/spectral-gateway-entrypoint
ENV PATH=/app/.venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    VAR_DIR=/var/lib/spectral \
    SPECTRAL_ENV=production \
    GATEWAY_DIR=/tmp/gateway \
    GATEWAY_HTTPS_PORT=8443 \
    GATEWAY_HTTP_PORT=8080 \
    GATEWAY_PUBLIC_HTTPS_PORT=443 \
    GATEWAY_ACCESS_LOG=/dev/stdout \
    GATEWAY_ERROR_LOG=stderr \
    TLS_CERT_PATH=/etc/spectral/tls/fullchain.pem \
    TLS_KEY_PATH=/etc/spectral/tls/privkey.pem
LABEL org.opencontainers.image.title="spectral-gateway" \
      org.opencontainers.image.description="Spectral's nginx gateway, rendered from the route table, and the platform router" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="${LICENSE}" \
      org.opencontainers.image.version="${VERSION}" \
      io.spectral.service="gateway"
WORKDIR /var/lib/spectral
USER 10001:10001
EXPOSE 8443 8080 8000
# nginx answers /livez itself on the HTTPS port; the certificate is for the public name, so the
# probe on loopback does not verify it. (The platform router overrides this with the probe of
# its /health on 8000.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, ssl, sys, urllib.request as u; c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE; sys.exit(0 if u.urlopen('https://127.0.0.1:%s/livez' % os.environ.get('GATEWAY_HTTPS_PORT', '8443'), context=c, timeout=4).status == 200 else 1)"]
ENTRYPOINT ["spectral-gateway-entrypoint"]

# ---- runtime: a service image without its default command ------------------------------------
FROM base AS runtime
COPY --from=venv /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    METRICS_PORT=8000 \
    VAR_DIR=/var/lib/spectral \
    SPECTRAL_ENV=production
WORKDIR /var/lib/spectral
USER 10001:10001
EXPOSE 8000
# GET http://127.0.0.1:$PORT/health answers 200 (web: the API's checks; worker, relay: theirs).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "spectral_shared.probe"]
ENTRYPOINT ["spectral"]

# The default command of each image: its service's web target (`spectral all` for SERVICE=all).
FROM runtime AS default-command-all
# The operations image (migrations, bus declarations, backups) also carries pg_dump and
# pg_restore for `spectral db backup` and `restore`: Debian's PostgreSQL 15 client, for the
# PostgreSQL 15, the server docs/operations.md#database requires (a newer server needs a client at least as new).
USER 0:0
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
USER 10001:10001
# spectral all serves the public API on PORT; its metrics need a port of their own.
ENV METRICS_PORT=9400
CMD ["all"]
FROM runtime AS default-command-auth
CMD ["auth", "web"]
FROM runtime AS default-command-governance
CMD ["governance", "web"]
FROM runtime AS default-command-audit
CMD ["audit", "web"]
FROM runtime AS default-command-billing
CMD ["billing", "web"]
FROM runtime AS default-command-reports
CMD ["reports", "web"]

# ---- service: the default target -------------------------------------------------------------
# Any other SERVICE fails right here, as "default-command-<SERVICE>: pull access denied" (no
# such stage, so BuildKit looks for an image of that name) before the venv stage's check runs.
# hadolint ignore=DL3006
FROM default-command-${SERVICE} AS service
ARG SERVICE
ARG VERSION
ARG SOURCE_URL
ARG LICENSE
LABEL org.opencontainers.image.title="spectral-${SERVICE}" \
      org.opencontainers.image.description="Spectral (healthcare AI governance): the ${SERVICE} service's targets" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="${LICENSE}" \
      org.opencontainers.image.version="${VERSION}" \
      io.spectral.service="${SERVICE}"
