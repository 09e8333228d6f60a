#!/usr/bin/env bash
# mkimage.sh — build a Docker image without a registry, by `docker import` of a root
# filesystem that holds only the given binaries and the shared libraries they need.
#
# Why: the machines this project runs on have a Docker engine but no registry, so no
# base image (debian, alpine, busybox) can be pulled. A dynamically linked binary only
# needs its loader and the libraries `ldd` lists, so we stage exactly those into a
# directory and import it as an image.
#
# Idempotent: the staged tree is archived deterministically (sorted, mtime 0, uid 0)
# and hashed together with the image config; the hash is stored as the label
# io.tikv-operator.content-hash. If the tag already carries the same hash, nothing is
# imported.
#
# Usage: mkimage.sh TAG [options]
#   --bin SRC:DEST          copy an ELF binary to DEST with its libraries and loader
#   --file SRC:DEST         copy a plain file (symlinks followed)
#   --tree DIR              copy a directory to the same path, with the libraries its
#                           ELF files need (dlopen'd plugins: xtables, tc)
#   --hardlink DEST:LINK    hard link LINK to the already staged DEST
#   --symlink TARGET:LINK   symbolic link LINK -> TARGET
#   --dir PATH[:MODE]       create an empty directory (default mode 0755)
#   --busybox-applets       link every applet of the staged /bin/busybox (existing paths win)
#   --change LINE           Dockerfile instruction for the image config (ENTRYPOINT, CMD, ENV, EXPOSE…)
#   --force                 import even if the content hash matches
#
# Environment: STAMP_DIR — where to keep input-signature stamps (skip staging when
# nothing changed); unset disables the fast path.
set -euo pipefail

HASH_LABEL=io.tikv-operator.content-hash

die() { echo "mkimage: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: mkimage.sh TAG [options]"
TAG=$1
shift

command -v docker >/dev/null || die "docker CLI not found"
command -v ldd >/dev/null || die "ldd not found (install libc-bin)"

# Fast path: a stamp file (under $STAMP_DIR) maps a cheap signature of the inputs
# (arguments, sizes and mtimes of every source file and of the libraries ldd resolves)
# to the content hash it produced. If the signature is unchanged and the image still
# carries that hash, nothing needs staging at all.
input_signature() {
  local args=("$@") i src dir
  {
    sha256sum "${BASH_SOURCE[0]}"
    printf '%s\n' "${args[@]}"
    for ((i = 0; i < ${#args[@]}; i++)); do
      case ${args[$i]} in
        --bin)
          src=${args[$((i + 1))]%%:*}
          stat -L -c '%n %s %Y' "$src" 2>/dev/null || echo "missing $src"
          ldd "$src" 2>/dev/null | awk '{print $1, $3}' | while read -r _ lib; do
            [[ $lib == /* ]] && stat -L -c '%n %s %Y' "$lib"
          done ;;
        --file)
          src=${args[$((i + 1))]%%:*}
          stat -L -c '%n %s %Y' "$src" 2>/dev/null || echo "missing $src" ;;
        --tree)
          dir=${args[$((i + 1))]}
          find "$dir" -type f -printf '%p %s %T@\n' 2>/dev/null | sort ;;
      esac
    done
  } | sha256sum | cut -c1-64
}

STAMP=""
if [[ -n ${STAMP_DIR:-} ]]; then
  mkdir -p "$STAMP_DIR"
  STAMP=$STAMP_DIR/$(tr '/:' '__' <<<"$TAG").stamp
  SIGNATURE=$(input_signature "$@")
  if [[ " $* " != *" --force "* && -f $STAMP ]]; then
    read -r STAMPED_SIGNATURE STAMPED_HASH <"$STAMP" || true
    CURRENT=$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$TAG" 2>/dev/null || true)
    if [[ ${STAMPED_SIGNATURE:-} == "$SIGNATURE" && -n ${STAMPED_HASH:-} && $CURRENT == "$STAMPED_HASH" ]]; then
      echo "mkimage: $TAG is up to date (${STAMPED_HASH:0:12}, inputs unchanged)"
      exit 0
    fi
  fi
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/rootfs
mkdir -p "$ROOT"
CHANGES=()
FORCE=0
BUSYBOX_APPLETS=0
HARDLINKS=()
SYMLINKS=()

# Copies FILE (following symlinks) to the same path inside the rootfs.
stage_same_path() {
  local src=$1
  [[ -e $ROOT$src ]] && return 0
  mkdir -p "$ROOT$(dirname "$src")"
  cp -L "$src" "$ROOT$src"
}

# Stages the loader and every library `ldd` lists for an ELF file.
stage_libraries() {
  local elf=$1 out line lib
  if ! out=$(ldd "$elf" 2>&1); then
    # Static binaries make ldd fail with "not a dynamic executable".
    grep -q "not a dynamic executable\|statically linked" <<<"$out" && return 0
    die "ldd $elf failed: $out"
  fi
  grep -q "statically linked" <<<"$out" && return 0
  while IFS= read -r line; do
    [[ $line == *"not found"* ]] && die "$elf needs a library that is missing: $line"
    lib=""
    if [[ $line == *"=>"* ]]; then
      lib=$(awk '{print $3}' <<<"$line")
    elif [[ $(awk '{print $1}' <<<"$line") == /* ]]; then
      lib=$(awk '{print $1}' <<<"$line")   # the dynamic loader
    fi
    [[ -n $lib && $lib == /* ]] && stage_same_path "$lib"
  done <<<"$out"
}

is_elf() { [[ -f $1 ]] && [[ $(head -c 4 "$1" | od -An -c | tr -d ' ') == '177ELF' ]]; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --bin)
      src=${2%%:*}; dest=${2#*:}
      [[ -f $src ]] || die "binary $src not found"
      mkdir -p "$ROOT$(dirname "$dest")"
      cp -L "$src" "$ROOT$dest"
      chmod 0755 "$ROOT$dest"
      stage_libraries "$src"
      shift 2 ;;
    --file)
      src=${2%%:*}; dest=${2#*:}
      [[ -f $src ]] || die "file $src not found"
      mkdir -p "$ROOT$(dirname "$dest")"
      cp -L "$src" "$ROOT$dest"
      shift 2 ;;
    --tree)
      dir=$2
      [[ -d $dir ]] || die "directory $dir not found"
      mkdir -p "$ROOT$dir"
      cp -rL "$dir/." "$ROOT$dir/"
      while IFS= read -r -d '' f; do
        is_elf "$f" && stage_libraries "$f"
      done < <(find "$dir" -type f -print0)
      shift 2 ;;
    --hardlink) HARDLINKS+=("$2"); shift 2 ;;
    --symlink) SYMLINKS+=("$2"); shift 2 ;;
    --dir)
      path=${2%%:*}; mode=0755
      [[ $2 == *:* ]] && mode=${2#*:}
      mkdir -p "$ROOT$path"
      chmod "$mode" "$ROOT$path"
      shift 2 ;;
    --busybox-applets) BUSYBOX_APPLETS=1; shift ;;
    --change) CHANGES+=("$2"); shift 2 ;;
    --force) FORCE=1; shift ;;
    *) die "unknown option $1" ;;
  esac
done

for pair in "${HARDLINKS[@]+"${HARDLINKS[@]}"}"; do
  target=${pair%%:*}; link=${pair#*:}
  [[ -e $ROOT$target ]] || die "hard link target $target is not staged"
  mkdir -p "$ROOT$(dirname "$link")"
  ln -f "$ROOT$target" "$ROOT$link"
done
for pair in "${SYMLINKS[@]+"${SYMLINKS[@]}"}"; do
  target=${pair%%:*}; link=${pair#*:}
  mkdir -p "$ROOT$(dirname "$link")"
  ln -sfn "$target" "$ROOT$link"
done
if [[ $BUSYBOX_APPLETS == 1 ]]; then
  [[ -x $ROOT/bin/busybox ]] || die "--busybox-applets needs /bin/busybox staged first"
  while IFS= read -r applet; do
    [[ -z $applet || -e $ROOT/$applet || -L $ROOT/$applet ]] && continue
    mkdir -p "$ROOT/$(dirname "$applet")"
    ln -s /bin/busybox "$ROOT/$applet"
  done < <("$ROOT/bin/busybox" --list-full)
fi

# Deterministic archive: same inputs, same bytes, same hash.
ARCHIVE=$STAGE/rootfs.tar
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$ROOT" -cf "$ARCHIVE" .
HASH=$({ sha256sum <"$ARCHIVE"; printf '%s\n' "${CHANGES[@]+"${CHANGES[@]}"}"; } | sha256sum | cut -c1-64)

CURRENT=$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$TAG" 2>/dev/null || true)
if [[ $FORCE == 0 && $CURRENT == "$HASH" ]]; then
  [[ -n $STAMP ]] && echo "$SIGNATURE $HASH" >"$STAMP"
  echo "mkimage: $TAG is up to date (${HASH:0:12})"
  exit 0
fi

ARGS=(--message "imported by compose/images/mkimage.sh")
for change in "${CHANGES[@]+"${CHANGES[@]}"}"; do
  ARGS+=(--change "$change")
done
ARGS+=(--change "LABEL $HASH_LABEL=$HASH")
docker import "${ARGS[@]}" "$ARCHIVE" "$TAG" >/dev/null
[[ -n $STAMP ]] && echo "$SIGNATURE $HASH" >"$STAMP"
SIZE=$(du -h "$ARCHIVE" | cut -f1)
echo "mkimage: built $TAG (${HASH:0:12}, $SIZE)"
