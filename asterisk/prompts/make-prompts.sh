#!/usr/bin/env bash
# Regenerates callverify's own prompts (8 kHz, 16-bit mono WAV, as Asterisk
# plays them without transcoding). Needs Debian's espeak-ng and sox; the
# generated files are committed, so nobody needs these tools to run the service.
set -euo pipefail
out="$(dirname "$0")/en/callverify"
mkdir -p "$out"
say() {
  local tmp; tmp=$(mktemp --suffix=.wav)
  espeak-ng -v en-us -s 150 -w "$tmp" "$2"
  sox "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$out/$1.wav"
  rm -f "$tmp"
}
say enter-code "Hello. This is a verification call. Please enter the code shown on the website, then press the pound key."
say incorrect "That code is not correct. Please try again."
say verified "Thank you. Your number is now verified. Goodbye."
say goodbye "Sorry, the code did not match. Goodbye."
say your-code-is "Your verification code is"
