#!/usr/bin/env bash
# System browser for the real-browser widget test (tests/test_browser.py): Debian's Chromium, driven by
# Playwright through executable_path (Playwright never downloads a browser). Idempotent: does nothing when a
# chromium binary is already on PATH. Needs root + apt-get; otherwise it says so and the test skips.
# Failure is not fatal for the rest of the set-up.
find_chromium() { command -v chromium || command -v chromium-browser || true; }
if [ -n "$(find_chromium)" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core) >/tmp/browser_setup.log 2>&1 && [ -n "$(find_chromium)" ]; then
    echo "installed $(find_chromium) ($("$(find_chromium)" --version 2>/dev/null))"
  else
    echo "chromium not installed (see /tmp/browser_setup.log): tests/test_browser.py will skip"
  fi
else
  echo "chromium not installed (needs root and apt-get): tests/test_browser.py will skip"
fi
exit 0
