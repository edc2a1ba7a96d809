#!/bin/sh
# The gateway image's entrypoint (Dockerfile, target gateway).
#
# With no arguments: render nginx's configuration from the route table into GATEWAY_DIR (a
# writable directory, so the root file system can stay read-only), check it, and run nginx in
# the foreground as this non-root user, logging to stdout and stderr. Upstreams come from
# <SERVICE>_UPSTREAM (e.g. AUTH_UPSTREAM=http://auth-web:8000) and PLATFORM_UPSTREAM; the
# certificate from TLS_CERT_PATH, TLS_KEY_PATH and optionally TLS_CHAIN_PATH (Let's Encrypt's
# fullchain.pem, privkey.pem and chain.pem). A watcher reloads nginx when those files or the
# upstreams' addresses change (see below).
#
# With arguments: run `spectral ARGS`, e.g. the platform router behind nginx:
#   gateway dev-router --host 0.0.0.0 --port 8000
set -eu

if [ "$#" -gt 0 ]; then
    exec spectral "$@"
fi

dir="${GATEWAY_DIR:-/tmp/gateway}"
cert="${TLS_CERT_PATH:-/etc/spectral/tls/fullchain.pem}"
key="${TLS_KEY_PATH:-/etc/spectral/tls/privkey.pem}"

for file in "$cert" "$key"; do
    if [ ! -r "$file" ]; then
        echo "gateway: cannot read $file: mount the TLS certificate and key (Let's Encrypt's" \
            "fullchain.pem and privkey.pem) there, or point TLS_CERT_PATH and TLS_KEY_PATH at them" >&2
        exit 1
    fi
done

set -- \
    --out "$dir/nginx" \
    --runtime-dir "$dir/run" \
    --tls-cert "$cert" \
    --tls-key "$key" \
    --server-name "${GATEWAY_SERVER_NAME:-_}" \
    --https-port "${GATEWAY_HTTPS_PORT:-8443}" \
    --http-port "${GATEWAY_HTTP_PORT:-8080}" \
    --acme-root "${ACME_WEBROOT:-$dir/acme}" \
    --access-log "${GATEWAY_ACCESS_LOG:-/dev/stdout}" \
    --error-log "${GATEWAY_ERROR_LOG:-stderr}"
if [ -n "${TLS_CHAIN_PATH:-}" ]; then
    set -- "$@" --tls-chain "$TLS_CHAIN_PATH"
fi
if [ -n "${PLATFORM_UPSTREAM:-}" ]; then
    set -- "$@" --platform-upstream "$PLATFORM_UPSTREAM"
fi

config="$(spectral gateway render "$@")"
# -e stderr: nginx's own messages before it reads the config go to stderr too, not to a log
# file this user cannot open.
nginx -t -q -e stderr -p "$dir/run" -c "$config"
# Beside nginx: reload it when an upstream name resolves to other addresses (containers scaled
# up or down) or the certificate changes (renewed). It stops when nginx does;
# GATEWAY_WATCH_INTERVAL (seconds, default 10) sets how often it looks, 0 turns it off.
spectral gateway watch --config "$config" --prefix "$dir/run" --tls-cert "$cert" --tls-key "$key" \
    --parent-pid "$$" &
exec nginx -e stderr -p "$dir/run" -c "$config" -g 'daemon off;'
