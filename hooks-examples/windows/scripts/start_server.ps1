# ApplicationStart: serve the app on 127.0.0.1:$AppPort in the background.
. (Join-Path $PSScriptRoot 'env.ps1')
$p = Start-Process python -ArgumentList '-m','http.server','--bind','127.0.0.1',"$AppPort" `
    -WorkingDirectory $AppDir -WindowStyle Hidden -PassThru
Set-Content $AppPidFile $p.Id
Write-Output "started web server pid $($p.Id) on port $AppPort"
