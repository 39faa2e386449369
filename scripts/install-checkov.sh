#!/usr/bin/env bash
# checkov pins ~100 packages, so it lives in its own virtual environment (.venv-checkov)
# and never shares a resolver with obsctl. Safe to run twice: it only installs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -x .venv-checkov/bin/checkov ]]; then exit 0; fi
python3 -m venv .venv-checkov
.venv-checkov/bin/pip install --quiet 'checkov>=3.2,<4'
