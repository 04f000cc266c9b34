#!/bin/sh
# In a build stage only: make pip trust the PEM text in $EXTRA_CA_CERTS (a TLS-intercepting proxy's CA) on top
# of the system's CAs. The stages that are shipped copy a virtualenv out of this stage, never /etc.
set -eu
if [ -n "${EXTRA_CA_CERTS:-}" ]; then
    system=/etc/ssl/certs/ca-certificates.crt
    [ -r "$system" ] || { echo "trust-build-ca: $system missing (install ca-certificates in the base image)" >&2; exit 1; }
    printf '%s\n' "$EXTRA_CA_CERTS" | cat "$system" - > /etc/build-ca.pem
    printf '[global]\ncert = /etc/build-ca.pem\n' > /etc/pip.conf
    echo "trust-build-ca: pip trusts the extra CA certificates in this build stage" >&2
fi
