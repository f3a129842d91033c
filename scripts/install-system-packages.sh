#!/usr/bin/env bash
# apt-get the daemons and tools the real-component tests and benchmarks use, when missing.
set -euo pipefail
want=(openssh-server openssh-client slurm-wlm munge gridengine-master gridengine-exec gridengine-client
      task-spooler parallel tmux iproute2 rsync)
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages (${missing[*]}); not root, so the tests that need them will be skipped" >&2
    exit 0
fi
echo "gridengine-common shared/gridengineconfig boolean false" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
