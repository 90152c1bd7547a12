#!/usr/bin/env bash
# Set up a board (Raspberry Pi OS / Debian bookworm) to run the firmware as a service.
# Idempotent: a second run with the same arguments changes nothing.
#
#   board/setup.sh --board PROFILE [--prefix DIR] [--user NAME] [--no-root] [--sysroot DIR]
#
#   --board PROFILE  board profile (board/profiles/PROFILE.toml) the service runs with
#   --prefix DIR     where the venv and the bundle store go (default /opt/hitar); the source is
#                    the tree this script is in (flash puts it at PREFIX/src)
#   --user NAME      account the service runs as (default: the invoking user)
#   --no-root        skip what needs root: system packages, the audio group, systemctl
#   --sysroot DIR    write the system files (service, governor unit, limits) under DIR instead
#                    of /; with --no-root they are written only when --sysroot is given
#
# Steps: system packages (board/system-deps.sh runtime); a venv at PREFIX/venv with the
# project installed editable (the rsynced source is the installation: a flash that changes no
# dependency needs no reinstall); the TFLite runtime (ai-edge-litert, else tflite-runtime);
# a check that the firmware imports and the profile loads; the systemd units and limits;
# enabling them. It does not (re)start hitar.service: deploy's flash does.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/hitar
board=
user=${SUDO_USER:-$(id -un)}
as_root=1
sysroot=
python=${PYTHON:-python3}

die() { echo "setup.sh: $*" >&2; exit 2; }
say() { echo "setup: $*"; }

while (($#)); do
  case $1 in
    --board) board=${2:?--board needs a profile name}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
    --user) user=${2:?--user needs an account name}; shift 2 ;;
    --sysroot) sysroot=${2:?--sysroot needs a folder}; shift 2 ;;
    --no-root) as_root=0; shift ;;
    -h | --help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ -n $board ]] || die "--board PROFILE is required (one of: $(cd "$src/board/profiles" && ls ./*.toml | sed 's|^\./||; s|\.toml$||' | xargs))"
[[ $board == */* || -f $src/board/profiles/$board.toml ]] || die "--board $board: no board/profiles/$board.toml"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
venv=$prefix/venv

sudo=()
if ((as_root)) && [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

# --- system packages -------------------------------------------------------------------------
if ((as_root)); then
  "$src/board/system-deps.sh" runtime
fi

# --- venv and the project ----------------------------------------------------------------------
# The stamp records what the venv was built from; the same inputs skip pip entirely.
[[ -x $venv/bin/python ]] || { say "creating $venv"; "$python" -m venv "$venv"; }
stamp="$(sha256sum "$src/pyproject.toml" | cut -d' ' -f1) $src $("$venv/bin/python" -V)"
if [[ $(cat "$venv/.hitar-stamp" 2>/dev/null) != "$stamp" ]]; then
  say "installing the firmware and its dependencies into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$src"
  if ! "$venv/bin/python" -c "import ai_edge_litert.interpreter" 2>/dev/null; then
    # No ai-edge-litert wheel for this machine (e.g. 32-bit armhf): the fallback runtime.
    "$venv/bin/python" -m pip install -q tflite-runtime \
      || die "no TFLite runtime installs here: neither ai-edge-litert nor tflite-runtime has a wheel for $(uname -m) / $("$venv/bin/python" -V)"
  fi
  echo "$stamp" > "$venv/.hitar-stamp"
fi
"$venv/bin/python" -c "from firmware.inference import interpreter_class; print('setup: TFLite runtime', interpreter_class()[1])"
"$venv/bin/python" -m firmware.board "$board" > /dev/null
say "board profile '$board' loads"
mkdir -p "$prefix/bundles"

# --- system files ---------------------------------------------------------------------------
changed=0
install_file() {  # install_file CONTENT DEST: write only when different, so reruns change nothing
  local content=$1 dest=$sysroot$2
  [[ -f $dest && $(cat "$dest") == "$content" ]] && return 0
  say "writing $dest"
  "${sudo[@]}" mkdir -p "$(dirname "$dest")"
  printf '%s\n' "$content" | "${sudo[@]}" tee "$dest.hitar-new" > /dev/null
  "${sudo[@]}" mv "$dest.hitar-new" "$dest"
  changed=1
}
render() { sed -e "s|@PREFIX@|$prefix|g" -e "s|@BOARD@|$board|g" -e "s|@USER@|$user|g" "$1"; }

if ((as_root)) || [[ -n $sysroot ]]; then
  install_file "$(render "$src/board/hitar.service")" /etc/systemd/system/hitar.service
  install_file "$(cat "$src/board/hitar-cpufreq.service")" /etc/systemd/system/hitar-cpufreq.service
  install_file "$(cat "$src/board/limits.conf")" /etc/security/limits.d/95-hitar.conf
fi

# --- activate -------------------------------------------------------------------------------
if ((as_root)) && [[ -z $sysroot ]]; then
  id -nG "$user" | tr ' ' '\n' | grep -qx audio || { say "adding $user to group audio"; "${sudo[@]}" usermod -aG audio "$user"; }
  if ((changed)); then "${sudo[@]}" systemctl daemon-reload; fi
  "${sudo[@]}" systemctl enable --quiet hitar-cpufreq.service hitar.service  # no-op when enabled
  systemctl is-active --quiet hitar-cpufreq.service || "${sudo[@]}" systemctl start hitar-cpufreq.service
fi
say "done: $prefix (board '$board')"
