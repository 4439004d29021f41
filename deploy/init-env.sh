#!/bin/sh
# Writes deploy/.env from deploy/.env.example, giving every secret left empty there (a *_PASSWORD or *_SECRET_KEY
# line ending in `=`) a fresh random value of 48 letters and digits. Run it once, from anywhere:
#
#   sh deploy/init-env.sh
#
# It never overwrites an existing deploy/.env, and the file it writes is readable by its owner only.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
target="$here/.env"
if [ -e "$target" ]; then
    echo "$target already exists; edit it, or remove it to generate a new one" >&2
    exit 1
fi

secret() {
    LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48
}

umask 077
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        \#*) printf '%s\n' "$line" ;;
        *_PASSWORD= | *_SECRET_KEY=) printf '%s%s\n' "$line" "$(secret)" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$here/.env.example" >"$target"
echo "wrote $target with new secrets; keep it out of version control"
