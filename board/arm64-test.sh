#!/usr/bin/env bash
# Prove the board install on arm64 without a board: debootstrap a Debian bookworm arm64 root
# (cached under build/arm64/), run the board's own install steps inside it under qemu-user
# (system-deps.sh runtime, setup.sh --no-root: the venv, the pip install, the profile check),
# then the firmware's tests that need no TensorFlow (the board never has it).
#   board/arm64-test.sh [pytest arguments]     default: -m "not slow" on the board tests
# Needs root (debootstrap, chroot, binfmt_misc), debootstrap, qemu-user-static and a Debian
# mirror (DEBIAN_MIRROR, default deb.debian.org). Remove build/arm64 to start from scratch.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${HITAR_ARM64_BUILD:-$repo/build/arm64}
root=$build/root
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
prefix=/opt/hitar

say() { printf '[arm64-test %4ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'arm64-test: %s\n' "$*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and binfmt_misc need it)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
[[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P || -x /usr/bin/qemu-aarch64-static ]] \
  || die "qemu-user-static missing: apt-get install qemu-user-static binfmt-support"

register_binfmt() {
  # arm64 executables run through qemu-aarch64 via binfmt_misc; the F flag makes the kernel
  # open the interpreter now, so it also works inside the chroot.
  local misc=/proc/sys/fs/binfmt_misc
  [[ -e $misc/register ]] || mount -t binfmt_misc binfmt_misc "$misc"
  [[ -e $misc/qemu-aarch64 ]] && return 0
  say "registering qemu-aarch64 with binfmt_misc"
  if ! update-binfmts --enable qemu-aarch64 2>/dev/null || [[ ! -e $misc/qemu-aarch64 ]]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$misc/register"
  fi
}

bootstrap() {
  [[ -f $root/.bootstrapped ]] && { say "reusing cached root $root"; return 0; }
  say "debootstrap bookworm arm64 into $root (first run only)"
  rm -rf "$root"
  mkdir -p "$build"
  debootstrap --arch=arm64 --variant=minbase --include=ca-certificates \
    bookworm "$root" "$mirror" > "$build/debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $build/debootstrap.log"
  touch "$root/.bootstrapped"
}

mounts=()
unmount_all() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
bind() { [[ -e $root$2 ]] || mkdir -p "$root$2"; mount "${@:3}" "$1" "$root$2"; mounts+=("$root$2"); }

in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive QEMU_CPU=cortex-a72 \
    bash -euo pipefail -c "$1"
}

pi4_cpuinfo() {
  # qemu-user shows arm64 programs the host's x86 /proc/cpuinfo; the cpuinfo library in the
  # TFLite runtime (XNNPACK) then crashes in allocate_tensors. Show them a Raspberry Pi 4's
  # (Cortex-A72, one entry per host CPU) instead; QEMU_CPU=cortex-a72 above makes the emulated
  # instruction set the Pi 4's too, so code that needs a newer CPU fails here as on the board.
  local cpu
  for ((cpu = 0; cpu < $(nproc); cpu++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$cpu"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n'
    printf 'CPU revision\t: 3\n\n'
  done
}

register_binfmt
bootstrap
trap unmount_all EXIT
bind proc /proc -t proc
pi4_cpuinfo > "$build/cpuinfo"
bind "$build/cpuinfo" /proc/cpuinfo --bind
bind sysfs /sys -t sysfs
bind /dev /dev --bind
bind devpts /dev/pts -t devpts
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The workstation's own CAs (a proxy's, a company's) for apt and pip inside the root.
for cert in /usr/local/share/ca-certificates/*.crt; do
  [[ -f $cert ]] || continue
  copy=$root/usr/local/share/ca-certificates/${cert##*/}
  cmp -s "$cert" "$copy" || { cp "$cert" "$copy"; ca_changed=1; }
done
[[ -z ${ca_changed:-} ]] || in_root "update-ca-certificates > /dev/null"
[[ $(in_root 'uname -m') == aarch64 ]] || die "the root does not run as aarch64"

say "copying the working tree to $prefix/src (as flash does)"
mkdir -p "$root$prefix/src"
rsync -a --delete --exclude=.git --filter=':- .gitignore' "$repo/" "$root$prefix/src/"

say "board/system-deps.sh runtime"
in_root "$prefix/src/board/system-deps.sh runtime"
say "board/setup.sh --no-root (venv, pip install, profile check)"
in_root "$prefix/src/board/setup.sh --prefix $prefix --board desktop --no-root"
say "installing pytest into the board venv"
in_root "$prefix/venv/bin/python -m pip install -q pytest"

# A real .tflite for the bundle tests: the board has no TensorFlow to convert one, the
# workstation's venv does (the same helper the tests use on the workstation).
model=$prefix/test-model.tflite
if [[ ! -f $root$model ]]; then
  say "converting the test model on the workstation"
  (cd "$repo" && "$repo/.venv/bin/python" -c "import sys; from tests.test_bundle_store import model_bytes; sys.stdout.buffer.write(model_bytes())") > "$root$model.partial" \
    && mv "$root$model.partial" "$root$model" \
    || { rm -f "$root$model.partial"; say "no TensorFlow here: the bundle tests will skip"; }
fi

# The board tests: every test module that imports no workstation-only package (TensorFlow,
# Keras, training/, deploy/, bench/, the Dexed reference synth of the dev extras).
workstation_only='tensorflow|keras|training|deploy|bench|dexed'
tests=()
for file in "$repo"/tests/test_*.py; do
  grep -qE "^\s*(import|from)\s+($workstation_only)\b" "$file" || tests+=("tests/${file##*/}")
done
((${#tests[@]})) || die "no board tests found"
(($#)) || set -- -m "not slow"
say "pytest on aarch64: ${tests[*]}"
in_root "cd $prefix/src && HITAR_TEST_MODEL=$model $prefix/venv/bin/python -m pytest -q -p no:cacheprovider $(printf '%q ' "$@" "${tests[@]}")"
say "passed"
