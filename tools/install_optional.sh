#!/usr/bin/env bash
# Optional system packages. Audio falls back to pretty_midi's synthesizer without them, so failure is not fatal.
if command -v fluidsynth >/dev/null 2>&1 && [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluidsynth fluid-soundfont-gm) >/dev/null 2>&1 \
    && echo "installed fluidsynth + fluid-soundfont-gm" || echo "fluidsynth not installed: audio uses pretty_midi's synthesizer"
else
  echo "fluidsynth not installed: audio uses pretty_midi's synthesizer"
fi
exit 0
