#!/usr/bin/env bash
# The test command: installs what the tests need (as root), builds, runs every test project.
# Privileged tests (namespaces, TUN, kernel VXLAN) need root; without it they are skipped locally
# and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then scripts/install-deps.sh; fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Dataplane.sln -c Release -warnaserror
dotnet test Dataplane.sln -c Release --no-build --blame-hang-timeout 10m \
  --logger "console;verbosity=minimal" "$@"
