#!/usr/bin/env bash
# Install the Debian / Raspberry Pi OS packages a role needs, only those missing (idempotent).
#   board/system-deps.sh runtime   what the firmware needs on the board
#   board/system-deps.sh dev       what training, tests and benchmarks need on a workstation
set -euo pipefail

runtime=(python3 python3-venv python3-dev gcc libasound2-dev libsndfile1 alsa-utils)
dev=("${runtime[@]}" liblo-tools fluidsynth fluid-soundfont-gm hydrogen-drumkits hexter
     timgm6mb-soundfont musescore-general-soundfont-small csound-soundfont lmms-common
     sonic-pi-samples
     rsync openssh-server openssh-client debootstrap qemu-user-static binfmt-support)

case "${1:-}" in
  runtime) wanted=("${runtime[@]}") ;;
  dev) wanted=("${dev[@]}") ;;
  *) echo "usage: $0 runtime|dev" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
((${#missing[@]})) || exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "installing system packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
