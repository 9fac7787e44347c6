# BeforeInstall: make sure what the app needs is on the host.
if (-not (Get-Command python -ErrorAction SilentlyContinue)) {
    Write-Error 'missing dependency: python'
    exit 1
}
Write-Output 'found python'
