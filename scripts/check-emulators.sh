#!/usr/bin/env bash
# Java, the Pub/Sub emulator and Chromium (the dashboard test renders in it) come from the OS,
# not PyPI: install what is missing, or stop with the name of the package to install.
# End-to-end tests never run without them.
set -euo pipefail

have_emulator() {
  local roots=()
  [[ -n "${CLOUDSDK_ROOT:-}" ]] && roots+=("$CLOUDSDK_ROOT")
  if command -v gcloud >/dev/null 2>&1; then roots+=("$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")"); fi
  roots+=(/usr/lib/google-cloud-sdk /usr/share/google-cloud-sdk)
  for root in "${roots[@]}"; do
    [[ -x "$root/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ]] && return 0
  done
  return 1
}

apt_install() {
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $* with apt-get" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

if ! command -v java >/dev/null 2>&1; then
  apt_install openjdk-17-jre-headless || {
    echo "error: Java not found; the Pub/Sub emulator needs it: apt-get install openjdk-17-jre-headless" >&2
    exit 1
  }
fi
if ! have_emulator; then
  apt_install google-cloud-cli-pubsub-emulator || true
  have_emulator || {
    echo "error: Pub/Sub emulator not found: install the Google Cloud CLI package google-cloud-cli-pubsub-emulator" >&2
    exit 1
  }
fi
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium || {
    echo "error: chromium not found; the dashboard test renders in it: apt-get install chromium" >&2
    exit 1
  }
fi
