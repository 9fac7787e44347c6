# ValidateService: the page the start script serves must answer.
. (Join-Path $PSScriptRoot 'env.ps1')
for ($i = 0; $i -lt 50; $i++) {
    try {
        $r = Invoke-WebRequest -UseBasicParsing "http://127.0.0.1:$AppPort/" -TimeoutSec 1
        if ($r.Content -match 'cdagent example') { Write-Output 'health check passed'; exit 0 }
    } catch { }
    Start-Sleep -Milliseconds 200
}
Write-Error "health check failed: nothing answers on port $AppPort"
exit 1
