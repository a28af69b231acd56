# azd postdeploy hook (Windows): see postdeploy.sh for what and why.
$ErrorActionPreference = 'Stop'

$enabled = azd env get-value ROTATION_EVENT_SUBSCRIPTIONS 2>$null
if ($LASTEXITCODE -eq 0 -and $enabled -eq 'true') {
    Write-Host 'Event Grid subscriptions already enabled.'
    exit 0
}

Write-Host 'Function code deployed: enabling the Key Vault Event Grid subscriptions.'
azd env set ROTATION_EVENT_SUBSCRIPTIONS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
