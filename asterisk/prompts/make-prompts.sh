#!/usr/bin/env bash
# Regenerates callverify's own prompts, per locale (8 kHz, 16-bit mono WAV, as
# Asterisk plays them without transcoding). Needs Debian's espeak-ng and sox;
# the generated files are committed, so nobody needs these tools to run the
# service.
#
# Layout: <lang>/callverify/<name>.wav plays as sound:callverify/<name> with
# ARI's lang=<lang> (engine/locales.py). Every locale has every phrase, and its
# own digits 0-9 (callverify/digits/N) and the short pause between them
# (callverify/digits/pause), so no Asterisk language pack is needed.
# Usage: make-prompts.sh [LANG...]   (default: every locale below)
set -euo pipefail
here="$(dirname "$0")"

say() {  # say LANG VOICE NAME TEXT [SPEED [SOX EFFECT...]]
  local out="$here/$1/callverify" tmp
  mkdir -p "$(dirname "$out/$3")"
  tmp=$(mktemp --suffix=.wav)
  espeak-ng -v "$2" -s "${5:-150}" -w "$tmp" "$4"
  sox "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$out/$3.wav" "${@:6}"
  rm -f "$tmp"
}

# espeak's silence before and after a word: the pause between digits is ours.
TRIM=(silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse)

pause() {  # the pause between two spoken digits
  mkdir -p "$here/$1/callverify/digits"
  sox -n -r 8000 -c 1 -b 16 -e signed-integer "$here/$1/callverify/digits/pause.wav" trim 0 0.6
}

digits() {  # digits LANG VOICE ZERO ONE ... NINE: spoken slower than the phrases
  local lang=$1 voice=$2 n=0
  shift 2
  for word in "$@"; do
    say "$lang" "$voice" "digits/$n" "$word" 120 "${TRIM[@]}"
    n=$((n + 1))
  done
  pause "$lang"
}

make_en() {
  say en en-us enter-code "Hello. This is a verification call. Please enter the code shown on the website, then press the pound key."
  say en en-us incorrect "That code is not correct. Please try again."
  say en en-us verified "Thank you. Your number is now verified. Goodbye."
  say en en-us goodbye "Sorry, the code did not match. Goodbye."
  say en en-us your-code-is "Your verification code is"
  say en en-us voice/press-1-to-repeat "To hear the code again, press one."
  say en en-us voice/goodbye "Thank you. Goodbye."
  digits en en-us zero one two three four five six seven eight nine
}

make_de() {
  say de de enter-code "Hallo. Dies ist ein Bestätigungsanruf. Bitte geben Sie den Code von der Webseite ein und drücken Sie dann die Rautetaste."
  say de de incorrect "Dieser Code ist nicht richtig. Bitte versuchen Sie es noch einmal."
  say de de verified "Vielen Dank. Ihre Nummer ist jetzt bestätigt. Auf Wiederhören."
  say de de goodbye "Der Code stimmt leider nicht. Auf Wiederhören."
  say de de your-code-is "Ihr Bestätigungscode lautet"
  say de de voice/press-1-to-repeat "Um den Code noch einmal zu hören, drücken Sie die Eins."
  say de de voice/goodbye "Vielen Dank. Auf Wiederhören."
  digits de de null eins zwei drei vier fünf sechs sieben acht neun
}

make_fr() {
  say fr fr-fr enter-code "Bonjour. Ceci est un appel de vérification. Veuillez saisir le code affiché sur le site, puis appuyez sur la touche dièse."
  say fr fr-fr incorrect "Ce code n'est pas correct. Veuillez réessayer."
  say fr fr-fr verified "Merci. Votre numéro est maintenant vérifié. Au revoir."
  say fr fr-fr goodbye "Désolé, le code ne correspond pas. Au revoir."
  say fr fr-fr your-code-is "Votre code de vérification est"
  say fr fr-fr voice/press-1-to-repeat "Pour réécouter le code, appuyez sur la touche un."
  say fr fr-fr voice/goodbye "Merci. Au revoir."
  digits fr fr-fr zéro un deux trois quatre cinq six sept huit neuf
}

make_es() {
  say es es enter-code "Hola. Esta es una llamada de verificación. Introduzca el código que aparece en el sitio web y pulse la tecla almohadilla."
  say es es incorrect "Ese código no es correcto. Inténtelo de nuevo."
  say es es verified "Gracias. Su número ya está verificado. Adiós."
  say es es goodbye "Lo sentimos, el código no coincide. Adiós."
  say es es your-code-is "Su código de verificación es"
  say es es voice/press-1-to-repeat "Para volver a escuchar el código, pulse uno."
  say es es voice/goodbye "Gracias. Adiós."
  digits es es cero uno dos tres cuatro cinco seis siete ocho nueve
}

for lang in "${@:-en de fr es}"; do
  for one in $lang; do "make_$one"; done
done
