#!/bin/sh
# driftwatch command executor: reimage a host of an Azure virtual machine scale set.
# Reimaging restores the instance's OS disk from the scale set's image (the golden image).
# Hosts carry labels vmss, resource-group and the instance's id in the set (agent.yaml labels:
# { group: web-prod, vmss: web-prod, resource-group: rg-web, vmss-instance: "3" }).
# Needs the Azure CLI, logged in with a managed identity allowed to reimage the set's instances.
set -eu
: "${DRIFTWATCH_LABEL_VMSS:?label vmss missing on $DRIFTWATCH_HOST_ID}"
: "${DRIFTWATCH_LABEL_RESOURCE_GROUP:?label resource-group missing on $DRIFTWATCH_HOST_ID}"
: "${DRIFTWATCH_LABEL_VMSS_INSTANCE:?label vmss-instance missing on $DRIFTWATCH_HOST_ID}"
echo "reimaging $DRIFTWATCH_HOSTNAME ($DRIFTWATCH_LABEL_VMSS #$DRIFTWATCH_LABEL_VMSS_INSTANCE), replacement $DRIFTWATCH_REPLACEMENT_ID"
exec az vmss reimage --resource-group "$DRIFTWATCH_LABEL_RESOURCE_GROUP" --name "$DRIFTWATCH_LABEL_VMSS" \
  --instance-ids "$DRIFTWATCH_LABEL_VMSS_INSTANCE" --no-wait
