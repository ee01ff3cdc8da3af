# Sourced by the interop scripts that run inside a private network namespace: only loopback, with
# multicast routed to it, so that no mDNS leaves the machine.

# True inside the namespace that run_in_private_netns made.
in_private_netns() {
  [[ ${SK2_INTEROP_IN_NETNS:-} == 1 ]]
}

# run_in_private_netns SCRIPT [ARGS...]: outside the namespace, runs SCRIPT ARGS again inside a
# new one (and does not return); inside it, brings loopback up with multicast routed to it.
run_in_private_netns() {
  if ! in_private_netns; then
    exec env SK2_INTEROP_IN_NETNS=1 unshare --net --map-root-user "$@"
  fi
  ip link set lo up
  ip link set lo multicast on
  ip route add 224.0.0.0/4 dev lo
}

# wait_for_ready LOG: waits up to 10 s for a line containing "ready" in LOG.
wait_for_ready() {
  for _ in $(seq 100); do
    grep -q ready "$1" && break
    sleep 0.1
  done
}
