# BeforeInstall: keep a copy of what is deployed now.
. (Join-Path $PSScriptRoot 'env.ps1')
if (Test-Path $AppDir) {
    Remove-Item "$AppDir.bak" -Recurse -Force -ErrorAction SilentlyContinue
    Copy-Item $AppDir "$AppDir.bak" -Recurse
    Write-Output "backed up $AppDir"
} else {
    Write-Output 'first deployment: nothing to back up'
}
