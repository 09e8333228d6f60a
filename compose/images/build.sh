#!/usr/bin/env bash
# build.sh — the operator's local images, built without a registry (see mkimage.sh).
#
#   compose/images/build.sh [tikv-sim|operator|prometheus|chaos-helper|etcd|all]...
#
# Environment:
#   PROFILE      cargo profile directory under target/ (default: debug)
#   TARGET_DIR   cargo target directory (default: target)
#   FORCE=1      re-import even when an image is up to date
#   STAMP_DIR    where input stamps live (default: $TARGET_DIR/images)
#
# The Rust binaries must already be built (the Makefile's `images` target does that);
# this script never invokes cargo, so it cannot start a release build behind your back.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PROFILE=${PROFILE:-debug}
TARGET_DIR=${TARGET_DIR:-$REPO/target}
export STAMP_DIR=${STAMP_DIR:-$TARGET_DIR/images}
MKIMAGE=("$HERE/mkimage.sh")
[[ ${FORCE:-0} == 1 ]] && MKIMAGE+=(--force)

die() { echo "build.sh: $*" >&2; exit 1; }

# The multiarch library directory (x86_64-linux-gnu, aarch64-linux-gnu, …).
multiarch() {
  local libc
  libc=$(ldd /bin/sh | awk '/libc\.so/ {print $3}')
  basename "$(dirname "$libc")"
}

need_binary() {
  [[ -x $1 ]] || die "$1 is missing: $2"
}

build_tikv_sim() {
  local bin=$TARGET_DIR/$PROFILE/tikv-sim
  need_binary "$bin" "run 'cargo build --bin tikv-sim' (or 'make images')"
  need_binary /bin/busybox "install busybox-static ('make deps')"
  # pd-server and tikv-server are hard links: the simulator dispatches on argv[0].
  # busybox gives `docker exec … sh` for debugging.
  "${MKIMAGE[@]}" tikv-sim:local \
    --bin "$bin:/tikv-sim" \
    --hardlink /tikv-sim:/pd-server \
    --hardlink /tikv-sim:/tikv-server \
    --file /bin/busybox:/bin/busybox --busybox-applets \
    --file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt \
    --dir /data --dir /tmp:1777 \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENTRYPOINT ["/tikv-sim"]' \
    --change 'EXPOSE 2379 2380 20160 20180' \
    --change 'WORKDIR /'
}

build_operator() {
  local bin=$TARGET_DIR/$PROFILE/operator
  need_binary "$bin" "run 'cargo build --bin operator' (or 'make images')"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || die "install ca-certificates"
  "${MKIMAGE[@]}" operator:local \
    --bin "$bin:/operator" \
    --file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt \
    --dir /data --dir /tmp:1777 \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENTRYPOINT ["/operator"]' \
    --change 'WORKDIR /'
}

build_prometheus() {
  need_binary /usr/bin/prometheus "install the prometheus package ('make deps')"
  need_binary /usr/bin/promtool "install the prometheus package ('make deps')"
  # Only the server and promtool: the operator uses the HTTP API. Debian's UI assets
  # (/usr/share/prometheus, ~300 MB through its symlinks) are left out.
  "${MKIMAGE[@]}" operator-prometheus:local \
    --bin /usr/bin/prometheus:/bin/prometheus \
    --bin /usr/bin/promtool:/bin/promtool \
    --file "$HERE/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml" \
    --dir /prometheus:0777 --dir /tmp:1777 \
    --change 'ENTRYPOINT ["/bin/prometheus"]' \
    --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090"]' \
    --change 'EXPOSE 9090' \
    --change 'WORKDIR /prometheus'
}

build_chaos_helper() {
  need_binary /bin/busybox "install busybox-static ('make deps')"
  need_binary /usr/sbin/tc "install iproute2 ('make deps')"
  need_binary /bin/ip "install iproute2 ('make deps')"
  need_binary /bin/dash "install dash"
  need_binary /usr/sbin/xtables-nft-multi "install iptables ('make deps')"
  local arch default_backend=xtables-nft-multi extra=()
  arch=$(multiarch)
  # Match the host's iptables backend so rules land where the kernel expects them.
  if iptables --version 2>/dev/null | grep -q legacy; then default_backend=xtables-legacy-multi; fi
  [[ -d /usr/lib/$arch/tc ]] && extra+=(--tree "/usr/lib/$arch/tc")
  [[ -d /usr/lib/$arch/xtables ]] && extra+=(--tree "/usr/lib/$arch/xtables")
  [[ -x /usr/sbin/xtables-legacy-multi ]] && extra+=(--bin /usr/sbin/xtables-legacy-multi:/sbin/xtables-legacy-multi)
  for f in /etc/protocols /etc/ethertypes /etc/services; do
    [[ -f $f ]] && extra+=(--file "$f:$f")
  done
  local links=()
  for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    links+=(--symlink "$default_backend:/sbin/$name")
  done
  for name in iptables-nft iptables-nft-save iptables-nft-restore; do
    links+=(--symlink "xtables-nft-multi:/sbin/$name")
  done
  if [[ -x /usr/sbin/xtables-legacy-multi ]]; then
    for name in iptables-legacy iptables-legacy-save iptables-legacy-restore; do
      links+=(--symlink "xtables-legacy-multi:/sbin/$name")
    done
  fi
  # Real tc, ip and iptables are staged before the busybox applets, so their paths are
  # not taken by busybox links. The shell is dash, not busybox ash: Debian's busybox
  # runs its own (cut-down) `tc` and `ip` applets from `sh -c` whatever PATH says.
  "${MKIMAGE[@]}" operator-chaos-helper:local \
    --bin /bin/dash:/bin/sh \
    --bin /usr/sbin/tc:/sbin/tc \
    --bin /bin/ip:/sbin/ip \
    --bin /usr/sbin/xtables-nft-multi:/sbin/xtables-nft-multi \
    "${extra[@]}" "${links[@]}" \
    --file /bin/busybox:/bin/busybox --busybox-applets \
    --dir /run --dir /var/run --dir /tmp:1777 \
    --change 'ENV PATH=/sbin:/usr/sbin:/bin:/usr/bin' \
    --change "CMD [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done\"]"
}

build_etcd() {
  # Debian's etcd-server/etcd-client (bookworm: 3.4.23, the only version apt offers
  # here; see ARCHITECTURE.md "The etcd subject"). The tag carries the version that
  # `etcd --version` reports, so a spec names what it runs.
  need_binary /usr/bin/etcd "install etcd-server ('make deps')"
  need_binary /usr/bin/etcdctl "install etcd-client ('make deps')"
  need_binary /bin/busybox "install busybox-static ('make deps')"
  local version
  version=$(/usr/bin/etcd --version | awk '/^etcd Version:/ {print $3}')
  [[ -n $version ]] || die "cannot read the version of /usr/bin/etcd"
  "${MKIMAGE[@]}" "operator-etcd:$version" \
    --bin /usr/bin/etcd:/usr/bin/etcd \
    --bin /usr/bin/etcdctl:/usr/bin/etcdctl \
    --file /bin/busybox:/bin/busybox --busybox-applets \
    --dir /var/lib/etcd:0700 --dir /tmp:1777 \
    --change 'ENV ETCDCTL_API=3' \
    --change 'ENTRYPOINT ["/usr/bin/etcd"]' \
    --change 'EXPOSE 2379 2380' \
    --change 'WORKDIR /'
  docker tag "operator-etcd:$version" operator-etcd:local
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(all)
for target in "${targets[@]}"; do
  case $target in
    tikv-sim) build_tikv_sim ;;
    operator) build_operator ;;
    prometheus) build_prometheus ;;
    chaos-helper) build_chaos_helper ;;
    etcd) build_etcd ;;
    all) build_tikv_sim; build_operator; build_prometheus; build_chaos_helper; build_etcd ;;
    *) die "unknown image $target (tikv-sim, operator, prometheus, chaos-helper, etcd, all)" ;;
  esac
done
