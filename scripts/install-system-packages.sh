#!/usr/bin/env bash
# apt-get the daemons and tools the real-component tests and benchmarks use, when missing.
# The distribution's own services (sshd, munged, slurmctld, sge_qmaster, sge_execd, ...) are not started by
# the install: a policy-rc.d forbids service starts while apt runs, and is removed afterwards. The test
# fixtures start every daemon they need themselves, on their own configuration, and stop it by pid.
set -euo pipefail
want=(openssh-server openssh-client slurm-wlm munge gridengine-master gridengine-exec gridengine-client
      task-spooler parallel tmux iproute2 rsync curl chromium zsh fish)
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

policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
    saved=$(mktemp)
    cp -p "$policy" "$saved"
fi
restore_policy() {
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# jobtui install: the distribution may not start services now\nexit 101\n' >"$policy"
chmod 755 "$policy"

echo "gridengine-common shared/gridengineconfig boolean false" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
echo "installing system packages: ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
