# Build the one-folder app on Windows: dist\automata-desktop\automata-desktop.exe (GUI, no console)
# and automata.exe (CLI) sharing one _internal\ folder. Run from any folder:
#   powershell -ExecutionPolicy Bypass -File installer\build-app.ps1
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
$python = if ($env:PYTHON) { $env:PYTHON } else { ".venv\Scripts\python.exe" }
& $python -c "import PyInstaller" 2>$null
if ($LASTEXITCODE -ne 0) { & $python -m pip install -q "pyinstaller>=6" }
& $python -m PyInstaller --noconfirm --clean --log-level WARN `
  --distpath dist --workpath build\pyinstaller installer\automata.spec
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "built dist\automata-desktop: run automata-desktop.exe, or automata.exe doctor --offline"
