#!/usr/bin/env bash
# Install the real binaries the local target and the tests drive: Prometheus + promtool and
# Alertmanager (Debian/Ubuntu apt), and shellcheck for actionlint. Safe to run twice: it
# installs only what is missing.
# Elsewhere it says what to install instead of guessing a package manager.
set -euo pipefail
want=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || want+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || want+=(prometheus-alertmanager)
# actionlint (test extras) runs shellcheck on every `run:` script of .github/workflows/ when it is installed.
command -v shellcheck >/dev/null || want+=(shellcheck)
for extra in "$@"; do command -v "$extra" >/dev/null || want+=("$extra"); done
# terraform is not in Debian's archive; the machines this project runs on ship it. Say so loudly
# when it is missing: the Terraform driver tests would be skipped (with that reason) without it.
command -v terraform >/dev/null || echo "warning: terraform is not on PATH -- install it from HashiCorp (developer.hashicorp.com/terraform/install); the terraform tests will be skipped" >&2
((${#want[@]})) || exit 0
if ! command -v apt-get >/dev/null; then
  echo "missing: ${want[*]} -- install them with your package manager (see obsctl doctor)" >&2
  exit 1
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "installing ${want[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
