# ApplicationStop: runs the PREVIOUS revision's copy of this script.
. (Join-Path $PSScriptRoot 'env.ps1')
Write-Output "stopping the web server of $env:APPLICATION_NAME ($env:LIFECYCLE_EVENT)"
if (Test-Path $AppPidFile) {
    $id = Get-Content $AppPidFile
    Stop-Process -Id $id -ErrorAction SilentlyContinue
    Remove-Item $AppPidFile
    Write-Output "stopped pid $id"
} else {
    Write-Output 'no server running'
}
