#!/bin/sh
# Adds Phi-4 Studio to the application menu of the current user (no root needed).
#     ./install-desktop-entry.sh            install the menu entry for this folder
#     ./install-desktop-entry.sh --remove   remove it again
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
TARGET="$APPS/phi4studio.desktop"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$TARGET"
    echo "removed $TARGET"
    exit 0
fi
mkdir -p "$APPS"
sed "s|@APPDIR@|$HERE|g" "$HERE/phi4studio.desktop" > "$TARGET"
chmod 644 "$TARGET"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" || true
echo "installed $TARGET (Exec=$HERE/phi4studio)"
