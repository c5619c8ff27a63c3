#!/usr/bin/env bash
# deps.sh GROUP... — make sure the Debian packages of the named groups
# (see scripts/packages.txt, the only list) are installed.
#
# As root, missing packages are installed with apt-get. Otherwise the script
# stops with the exact `apt-get install` line to run, and exits 1.
#
# A package whose install would ask a question (postfix: what kind of mail
# server?) gets its answer from a `preseed` line of packages.txt, given to
# debconf-set-selections before apt-get runs, so the install needs no
# terminal and configures (and starts) nothing it was not asked to.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.txt"

if [ $# -eq 0 ]; then
	echo "usage: $0 GROUP... (groups: $(awk '!/^#/ && NF && $1 != "preseed" {print $1}' "$list" | sort -u | tr '\n' ' '))" >&2
	exit 2
fi

missing=()
for group in "$@"; do
	found=0
	while read -r g pkg proof; do
		[ "$g" != preseed ] && [ "$g" = "$group" ] || continue
		found=1
		# A file that proves the package is enough; dpkg is asked otherwise.
		if [ -n "${proof:-}" ] && [ -e "$proof" ]; then continue; fi
		if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then continue; fi
		case " ${missing[*]:-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
	done < <(grep -v '^#' "$list" | awk 'NF')
	if [ $found -eq 0 ]; then
		echo "deps.sh: unknown group '$group' (see $list)" >&2
		exit 2
	fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "threadlab needs these Debian packages: ${missing[*]}" >&2
	echo "Install them as root with:" >&2
	echo "  apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The debconf answers of the packages about to be installed.
while read -r g pkg answer; do
	[ "$g" = preseed ] || continue
	case " ${missing[*]} " in *" $pkg "*) echo "$pkg $answer" | debconf-set-selections ;; esac
done < <(grep -v '^#' "$list" | awk 'NF')
# A fresh machine has no package lists; update once, then install.
if ! apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; then
	apt-get update -q >/dev/null
	apt-get install -y -q "${missing[@]}"
fi
