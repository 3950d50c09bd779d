#!/usr/bin/env bash
# Regenerates the screenshots in docs/ui/ (docs/ui.md): runs the UI's browser tests with
# CAPSTAN_UI_SCREENSHOTS set, which makes them save each page they show. Needs Debian's
# chromium and chromium-driver (as .ci/run installs them).
#
#   bash scripts/ui-screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
CAPSTAN_UI_SCREENSHOTS=1 cargo test -p capstan-tests --test registry ui:: -- --test-threads 1
ls -l docs/ui/*.png
