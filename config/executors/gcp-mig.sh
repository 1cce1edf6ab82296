#!/bin/sh
# driftwatch command executor: recreate a host of a GCP managed instance group.
# The group recreates the instance from its instance template (the golden image), keeping its name.
# Hosts carry the group and zone as labels (agent.yaml labels: { group: web-prod, mig: web-prod-mig,
# zone: europe-west1-b }). Needs gcloud and compute.instanceGroupManagers.update.
set -eu
: "${DRIFTWATCH_LABEL_MIG:?label mig (the managed instance group) missing on $DRIFTWATCH_HOST_ID}"
: "${DRIFTWATCH_LABEL_ZONE:?label zone missing on $DRIFTWATCH_HOST_ID}"
echo "recreating $DRIFTWATCH_HOSTNAME in $DRIFTWATCH_LABEL_MIG, replacement $DRIFTWATCH_REPLACEMENT_ID"
exec gcloud compute instance-groups managed recreate-instances "$DRIFTWATCH_LABEL_MIG" \
  --zone "$DRIFTWATCH_LABEL_ZONE" --instances "$DRIFTWATCH_HOSTNAME" --format json
