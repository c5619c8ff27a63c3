#!/usr/bin/env bash
# numa-vm.sh — run the numa tests on a real two-node kernel: a QEMU guest
# with two NUMA nodes (2 CPUs and 512 MiB each, distance 21), booted from
# Debian's kernel with an initramfs that holds busybox, the test programs
# of tests/numa/, the driver, and the shared libraries they load.
#
# Usage: scripts/numa-vm.sh [BUILD]    (BUILD: the build directory, default
#                                       build; `make all` must have run)
# Exit status: 0 every test passed in the guest and the guest saw two
# nodes; 1 something failed (the guest's console is printed); 77 the tools
# are missing (qemu-system-x86_64, a kernel in /boot, busybox, cpio; see
# the `vm` group of scripts/packages.txt) — reported as skipped.
#
# The guest runs under QEMU's software emulation (TCG) unless
# THREADLAB_VM_ACCEL=kvm (see below why); the time limit is
# THREADLAB_VM_TIMEOUT seconds, default 240.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
timeout_s=${THREADLAB_VM_TIMEOUT:-140}   # per boot (a good one takes 10-50 s); two boots fit run-tests.sh's 300 s

skip() { echo "numa-vm.sh: skipped: $*"; exit 77; }

qemu=$(command -v qemu-system-x86_64) || skip "no qemu-system-x86_64 (apt-get install -y qemu-system-x86)"
busybox=$(command -v busybox) || skip "no busybox (apt-get install -y busybox-static)"
command -v cpio >/dev/null || skip "no cpio (apt-get install -y cpio)"
kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] && [ -r "$kernel" ] || skip "no readable kernel in /boot (apt-get install -y linux-image-amd64)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
	skip "$busybox is not static (apt-get install -y busybox-static)"

tests=()
for t in "$build"/tests/numa/test_*; do
	case $t in *.log|*/test_vm) continue ;; esac
	[ -x "$t" ] && tests+=("$t")
done
[ ${#tests[@]} -gt 0 ] || { echo "numa-vm.sh: no tests under $build/tests/numa (run make all)" >&2; exit 1; }
[ -x "$build/bin/threadlab" ] || { echo "numa-vm.sh: no $build/bin/threadlab (run make all)" >&2; exit 1; }

work=$(mktemp -d /tmp/threadlab-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/root
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,threadlab/build/tests/numa,threadlab/build/bin}
cp "$busybox" "$rootfs/bin/busybox"
cp "${tests[@]}" "$rootfs/threadlab/build/tests/numa/"
cp "$build/bin/threadlab" "$rootfs/threadlab/build/bin/"
# The shared libraries the (dynamic, cmocka) tests load, at the same paths.
for lib in $(ldd "${tests[@]}" 2>/dev/null | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
	mkdir -p "$rootfs$(dirname "$lib")"
	cp -L "$lib" "$rootfs$lib"
done

cat >"$rootfs/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo; echo "THREADLAB-VM: kernel $(uname -r), nodes $(cat /sys/devices/system/node/online), cpus $(cat /sys/devices/system/cpu/online)"
cd /threadlab
failed=0
for t in build/tests/numa/test_*; do
	echo "THREADLAB-VM: --- $t"
	"$t" 2>&1
	rc=$?
	echo "THREADLAB-VM: $t exit $rc"
	[ $rc -eq 0 ] || failed=$((failed + 1))
done
echo "THREADLAB-VM: --- build/bin/threadlab topo --policy spread"
build/bin/threadlab topo --policy spread 2>&1 || failed=$((failed + 1))
echo "THREADLAB-VM-RESULT: failed=$failed"
sync
poweroff -f
EOF
chmod +x "$rootfs/init"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz" ||
	{ echo "numa-vm.sh: could not make the initramfs" >&2; exit 1; }

# Software emulation (TCG) by default: on the machine this was written on
# (itself a VM, kernel 6.18), /dev/kvm answers but a KVM guest hangs in the
# kernel's decompressor for minutes (no EPT for the nested guest, it
# seems), while TCG boots in seconds. THREADLAB_VM_ACCEL=kvm tries KVM,
# with the host's CPU model minus the ARCH_CAPABILITIES MSR, which the
# nested hypervisor refuses to set (QEMU aborts: "failed to set MSR 0x10a").
case ${THREADLAB_VM_ACCEL:-tcg} in
kvm) accel=kvm cpu="-cpu host,-arch-capabilities" ;;
*) accel=tcg cpu="-cpu max" ;;
esac
log=$work/console.log
# A TCG guest on this shared VM has been seen to soft-lock while booting,
# before running anything. Such a boot (no THREADLAB-VM line on the
# console) is tried once more; a guest that ran its tests and failed is
# never retried.
for boot in 1 2; do
echo "numa-vm.sh: booting $kernel with 2 NUMA nodes (accel=$accel), ${#tests[@]} test programs (boot $boot)"
timeout -k 5 "$timeout_s" "$qemu" -accel "$accel" $cpu -m 1G \
	-smp 4,sockets=2,cores=2,threads=1 \
	-object memory-backend-ram,id=m0,size=512M \
	-object memory-backend-ram,id=m1,size=512M \
	-numa node,nodeid=0,cpus=0-1,memdev=m0 \
	-numa node,nodeid=1,cpus=2-3,memdev=m1 \
	-numa dist,src=0,dst=1,val=21 \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3" \
	-nographic -no-reboot -nic none </dev/null >"$log" 2>&1
qrc=$?
tr -d '\r' <"$log" >"$log.txt"
grep -q '^THREADLAB-VM' "$log.txt" && break
echo "numa-vm.sh: the guest printed nothing of ours (qemu exit status $qrc): a boot that hung"
done

ok=1
grep -q '^THREADLAB-VM-RESULT: failed=0$' "$log.txt" || ok=0
# The point of the exercise: the guest really had two nodes, and the test
# that needs a second node ran instead of skipping.
grep -q 'THREADLAB-VM: kernel .*, nodes 0-1, cpus 0-3$' "$log.txt" || ok=0
grep -q '\[       OK \] memory_on_second_node' "$log.txt" || ok=0
grep -q '^nodes: 2  cpus: 4  usable here: 0-3 (4)$' "$log.txt" || ok=0
if [ $ok -eq 1 ]; then
	grep -E '^THREADLAB-VM|^\[  (PASSED|FAILED|SKIPPED) +\]|memory_on_second_node' "$log.txt" |
		grep -v -e '^THREADLAB-VM-RESULT' -e 'threadlab topo'
	echo "numa-vm.sh: the guest's threadlab topo --policy spread:"
	sed -n '/^THREADLAB-VM: --- build\/bin\/threadlab topo/,/^THREADLAB-VM-RESULT/p' "$log.txt" |
		sed -e '1d' -e '$d'
	echo "numa-vm.sh: passed"
	exit 0
fi
echo "numa-vm.sh: FAILED (qemu exit status $qrc); the guest's console:"
cat "$log.txt"
exit 1
