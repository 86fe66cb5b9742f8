#!/usr/bin/env bash
# Install headless Chromium and its driver from Debian's packages, for the browser test
# (stripe_customer_assets_tests/ui/). Idempotent: does nothing when both are installed.
#
#   bash scripts/install-browser.sh
#
# Needs root (or sudo) and apt-get. Prints where the browser is.
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-dejavu-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: apt-get not found; install ${missing[*]} by hand" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

browser="$(command -v chromium || true)"
if [ -z "$browser" ]; then
  echo "install-browser: chromium is not on PATH after install" >&2
  exit 1
fi
echo "install-browser: $("$browser" --version 2>/dev/null || echo chromium) at $browser"
