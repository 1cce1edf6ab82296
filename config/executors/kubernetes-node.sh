#!/bin/sh
# driftwatch command executor: replace a Kubernetes node.
# Cordons and drains the node (respecting PodDisruptionBudgets), then deletes it; the node
# group's autoscaler (Cluster Autoscaler, Karpenter, a managed node group) brings up a fresh one.
# The node name is the host's hostname. Needs kubectl with a kubeconfig (KUBECONFIG passes
# through) allowed to cordon, evict and delete nodes.
set -eu
node="$DRIFTWATCH_HOSTNAME"
echo "replacing node $node, replacement $DRIFTWATCH_REPLACEMENT_ID"
kubectl cordon "$node"
kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=10m
exec kubectl delete node "$node"
