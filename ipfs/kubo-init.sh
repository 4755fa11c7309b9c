#!/bin/sh
# Applies Detach's private-node settings (kubo-config.json) to a Kubo repo. Mount it into the
# official image as /container-init.d/050-detach.sh (run once before the daemon starts), or run it
# by hand after `ipfs init --profile server`. Set DETACH_IPFS_PUBLIC=1 to opt in to the public
# network (DHT client, announcing pinned content only).
set -eu
ipfs config --json Addresses.API '"/ip4/0.0.0.0/tcp/5001"'
ipfs config --json Addresses.Gateway '"/ip4/127.0.0.1/tcp/8080"'
ipfs config --json Discovery.MDNS.Enabled false
ipfs config --json AutoTLS.Enabled false
ipfs config --json Swarm.DisableNatPortMap true
ipfs config --json Datastore.GCPeriod '"1h"'
ipfs config --json Import.CidVersion 1
ipfs config --json Import.UnixFSRawLeaves true
ipfs config --json Import.UnixFSChunker '"size-262144"'
if [ "${DETACH_IPFS_PUBLIC:-0}" = "1" ]; then
  ipfs config --json Routing.Type '"autoclient"'
  ipfs config --json Provide.Enabled true
  ipfs config --json Provide.Strategy '"pinned"'
  ipfs bootstrap add --default >/dev/null
else
  ipfs config --json Routing.Type '"none"'
  ipfs config --json Provide.Enabled false
  ipfs config --json Addresses.Swarm '[]'
  ipfs config --json Addresses.Announce '[]'
  ipfs bootstrap rm --all >/dev/null
fi
