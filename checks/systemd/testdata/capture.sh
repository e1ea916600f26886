#!/bin/sh
# How the files in this folder were captured: real output of systemd 252
# (Debian 12) from a systemd user manager with units made to be in each
# state. A user manager prints exactly what the system manager prints;
# systemctl --user and the user bus stand in for systemctl and the system bus.
#
# Needs root (for a private mount namespace, so that /run/systemd/system
# exists for systemd --user without touching the host's /run):
#
#   unshare -m --propagation private checks/systemd/testdata/capture.sh
#
# Run from the repository root. If ./systemd.test exists (go test -c -o
# systemd.test ./checks/systemd/), it also runs TestRealSystemd against the
# user manager's bus.
set -u
OUT=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/system
export HOME=$WORK/home XDG_RUNTIME_DIR=$WORK/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
U=$HOME/.config/systemd/user
mkdir -p "$U"
unit() { printf '[Unit]\nDescription=%s\n[Service]\n%s\n' "$2" "$3" > "$U/$1"; }
unit kubelet.service "kubelet: The Kubernetes Node Agent" "ExecStart=/bin/false"
unit containerd.service "containerd container runtime" "ExecStart=/bin/sleep infinity"
unit etcd.service "etcd key-value store" "ExecStart=/bin/false
Restart=always
RestartSec=300"
unit kube-proxy.service "kube-proxy" "ExecStart=/bin/sleep infinity"
unit kube-apiserver.service "Kubernetes API Server" "ExecStart=/bin/sleep infinity
ExecReload=/bin/sleep 30"
unit etcd-defrag.service "Defragment etcd" "Type=oneshot
TimeoutStartSec=1
ExecStart=/bin/sleep 30"
unit kube-scheduler.service "Kubernetes Scheduler" "ExecStart=/bin/sleep infinity"
ln -s containerd.service "$U/cri.service" # an alias

/lib/systemd/systemd --user > "$WORK/systemd.log" 2>&1 &
SD=$!
sleep 2
systemctl --user start containerd.service kubelet.service etcd.service kube-apiserver.service kube-scheduler.service
systemctl --user start etcd-defrag.service 2>/dev/null       # fails: Result=timeout
systemctl --user reload --no-block kube-apiserver.service     # reloading for 30s
systemctl --user kill -s KILL kube-scheduler.service          # fails: Result=signal
sleep 1

P=--property=Id,ActiveState,SubState,Result,LoadState
systemctl --user show $P --no-pager -- kubelet.service containerd.service etcd.service kube-proxy.service \
	nosuch.service default.target kube-apiserver.service cri.service -.mount > "$OUT/show.txt"
systemctl --user show $P --no-pager -- etcd-defrag.service kube-scheduler.service > "$OUT/show-results.txt"
systemctl --user show $P --no-pager -- containerd.service > "$OUT/show-one.txt"
systemctl --user list-units --state=failed --plain --no-legend --no-pager > "$OUT/list-units-failed.txt"
systemctl --user list-units --state=failed --no-legend --no-pager > "$OUT/list-units-failed-notplain.txt"
if [ -x ./systemd.test ]; then
	SATELLITE_SYSTEMD_TEST_BUS=$XDG_RUNTIME_DIR/bus ./systemd.test -test.run TestRealSystemd -test.v
fi
systemctl --user reset-failed
systemctl --user list-units --state=failed --plain --no-legend --no-pager > "$OUT/list-units-none.txt"

kill $SD
sleep 1
kill -9 $SD 2>/dev/null
rm -rf "$WORK"
