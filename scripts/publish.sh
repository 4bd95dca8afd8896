#!/usr/bin/env bash
# The release build a node runs: one self-contained, single-file executable (no .NET needed on the node) at
# out/dataplane. NativeAOT is not used yet: the lab benchmark's plotting (ScottPlot/SkiaSharp) still lives in this
# executable and gRPC's protobuf reflection in the etcd client has not been checked under trimming; see the README.
#   scripts/publish.sh [output-dir]      (default: out)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet publish Control/Control.csproj -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:DebugType=none -p:GenerateDocumentationFile=false \
  -o "$out" -nologo -v quiet
rm -f "$out"/*.xml "$out"/*.pdb "$out"/Dataplane.Control
echo "$out/dataplane: $(du -h "$out/dataplane" | cut -f1), $("$out/dataplane" --version)"
