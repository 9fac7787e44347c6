# Settings shared by the hook scripts (dot-sourced).
$AppDir = 'C:\inetpub\cdagent-example'
$AppPort = 8089
$AppPidFile = Join-Path $env:TEMP 'cdagent-example.pid'
