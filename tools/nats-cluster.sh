# nats-cluster.sh: a 3-node nats-server cluster with JetStream on loopback,
# for tools/demo-cluster.sh and bench/bench-gateway.sh (sourced, not run)
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   nats_cluster_init WORK NAME   picks 7 free loopback ports (3 clients, 3
#                                 routes, 1 spare: NATS_SPARE_PORT) and sets
#                                 NATS_SERVERS (HOST:PORT,HOST:PORT,HOST:PORT)
#   nats_node_start I             starts node nI (0 to 2; store WORK/nI, log
#                                 WORK/nI.log); its pid is NATS_NODE_PIDS[I]
#   nats_cluster_start            starts the three
# The caller kills NATS_NODE_PIDS when it is done.
# shellcheck shell=bash

nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
NATS_NODE_PIDS=()

nats_cluster_init() {
  nats_work=$1
  nats_name=$2
  read -r -a nats_ports < <(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(7)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
  NATS_SERVERS=127.0.0.1:${nats_ports[0]},127.0.0.1:${nats_ports[1]},127.0.0.1:${nats_ports[2]}
  NATS_SPARE_PORT=${nats_ports[6]}
  export NATS_SERVERS NATS_SPARE_PORT
}

nats_node_start() {
  local i=$1 routes=() j
  for j in 0 1 2; do
    ((j == i)) || routes+=("nats-route://127.0.0.1:${nats_ports[$((3 + j))]}")
  done
  cat >"$nats_work/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${nats_ports[$i]}
jetstream { store_dir: $nats_work/n$i }
cluster { name: $nats_name, listen: 127.0.0.1:${nats_ports[$((3 + i))]}, routes: [$(IFS=,; echo "${routes[*]}")] }
CONF
  "$nats_server" -c "$nats_work/n$i.conf" >>"$nats_work/n$i.log" 2>&1 &
  # shellcheck disable=SC2034  # for the sourcing script
  NATS_NODE_PIDS[i]=$!
}

nats_cluster_start() {
  local i
  for i in 0 1 2; do nats_node_start "$i"; done
}
