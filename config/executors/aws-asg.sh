#!/bin/sh
# driftwatch command executor: replace a host of an AWS Auto Scaling group.
# The instance is terminated without lowering the desired capacity, so the group launches a
# fresh one from its launch template (the golden image). collector.yaml:
#   replacement: { executor: { type: command, run: [/etc/driftwatch/executors/aws-asg.sh], timeout: 5m } }
# Needs the AWS CLI and autoscaling:TerminateInstanceInAutoScalingGroup on the group's instances.
set -eu
: "${DRIFTWATCH_INSTANCE_ID:?the agent reported no cloud instance id for $DRIFTWATCH_HOST_ID}"
[ "${DRIFTWATCH_CLOUD_PROVIDER:-}" = aws ] || { echo "host $DRIFTWATCH_HOST_ID is not on AWS (${DRIFTWATCH_CLOUD_PROVIDER:-unknown})" >&2; exit 1; }
echo "replacing $DRIFTWATCH_HOSTNAME ($DRIFTWATCH_INSTANCE_ID), replacement $DRIFTWATCH_REPLACEMENT_ID"
exec aws autoscaling terminate-instance-in-auto-scaling-group \
  --instance-id "$DRIFTWATCH_INSTANCE_ID" --no-should-decrement-desired-capacity --output json
