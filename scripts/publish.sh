#!/usr/bin/env bash
# The release build a node runs: out/dataplane, one native executable compiled ahead of time (NativeAOT: no .NET and
# no JIT on the node). Trim and AOT analysis warnings are errors (Directory.Build.props' TreatWarningsAsErrors reaches
# the IL compiler), so a dependency that stops being trim-safe fails this build instead of failing on a node.
# Needs clang and zlib1g-dev (scripts/install-deps.sh). `--single-file` builds the previous artefact instead: a
# self-contained single file (runtime and JIT inside, ~3x the size).
#   scripts/publish.sh [output-dir] [--single-file]      (default: out)
set -euo pipefail
cd "$(dirname "$0")/.."
out="out"
mode=aot
for arg in "$@"; do
  case "$arg" in
    --single-file) mode=single-file ;;
    -*) echo "publish.sh: unknown option $arg" >&2; exit 2 ;;
    *) out="$arg" ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
common=(-c Release -r linux-x64 -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out" -nologo -v quiet)
if [ "$mode" = aot ]; then
  # StripSymbols: the debug symbols would otherwise sit beside the binary as dataplane.dbg (not shipped).
  dotnet publish Control/Control.csproj "${common[@]}" -p:PublishAot=true -p:StripSymbols=true -p:TrimmerSingleWarn=false
else
  dotnet publish Control/Control.csproj "${common[@]}" --self-contained \
    -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true
fi
rm -f "$out"/*.xml "$out"/*.pdb "$out"/*.dbg "$out"/Dataplane.Control
echo "$out/dataplane ($mode): $(du -h "$out/dataplane" | cut -f1), $("$out/dataplane" --version)"
