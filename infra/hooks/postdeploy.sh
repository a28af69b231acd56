#!/bin/sh
# azd postdeploy hook: once the function code is deployed, create the Key Vault -> Event Grid
# subscriptions to `secret_near_expiry` (Event Grid validates a function endpoint when the
# subscription is created, so the first provision, before any code exists, leaves them out).
# Runs `azd provision` once; later `azd up` runs find the flag set and provision it directly.
set -eu

enabled="$(azd env get-value ROTATION_EVENT_SUBSCRIPTIONS 2>/dev/null || true)"
if [ "$enabled" = "true" ]; then
    echo "Event Grid subscriptions already enabled."
    exit 0
fi

echo "Function code deployed: enabling the Key Vault Event Grid subscriptions."
azd env set ROTATION_EVENT_SUBSCRIPTIONS true
azd provision --no-prompt
