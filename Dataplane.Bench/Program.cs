using BenchmarkDotNet.Running;
using Dataplane.Bench.Config;

// Usage: dotnet run -c Release --project Dataplane.Bench -- --filter '*ForwardingTable*'
// (scripts/bench-micro.sh wraps this and files the reports under perf-results/). One class per area,
// in a folder mirroring Dataplane/ (Forwarding/, Buffers/, Packets/, Encapsulation/, ...); all share
// BenchConfig.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
