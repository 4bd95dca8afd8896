using BenchmarkDotNet.Running;
using Control.Commands;
using Dataplane.Bench.Config;

// Two kinds of benchmark in one executable:
// - verbs (Verbs/): `Dataplane.Bench bench [--modes …]` is the lab benchmark (needs root; scripts/bench-lab.sh wraps
//   it), `udp-blast` and `udp-sink` are its traffic generators (it starts them inside the lab's pods). Their flags
//   follow the daemon's Go flag syntax (Control's Cli). A new verb goes in LabVerbs.
// - anything else goes to BenchmarkDotNet: dotnet run -c Release --project Dataplane.Bench -- --filter '*ForwardingTable*'
//   (scripts/bench-micro.sh wraps this and files the reports under perf-results/). One class per area, in a folder
//   mirroring Dataplane/ (Forwarding/, Buffers/, Packets/, Encapsulation/, ...); all share BenchConfig.
if (args.Length > 0 && LabVerbs.Cli.HasVerb(args[0]))
    return LabVerbs.Cli.Execute(args, new CliContext());
if (args is ["--help" or "-h" or "help"])
{
    LabVerbs.Cli.Execute(["--help"], new CliContext());
    Console.WriteLine("Any other arguments are BenchmarkDotNet's (the micro-benchmarks):\n");
}
BenchmarkSwitcher.FromAssembly(typeof(LabVerbs).Assembly).Run(args, BenchConfig.Create());
return 0;

/// <summary>The verbs of Dataplane.Bench (the lab benchmark and its generators), dispatched as the daemon's are.</summary>
internal static class LabVerbs
{
    /// <summary>The command line over those verbs; no default verb (no verb means BenchmarkDotNet).</summary>
    public static Cli Cli { get; } = new("Dataplane.Bench",
        "Dataplane.Bench: the lab benchmark (bench) and its traffic generators (udp-blast, udp-sink); other arguments go to BenchmarkDotNet.",
        [new BenchVerb(), new UdpBlastVerb(), new UdpSinkVerb()], defaultVerb: null);
}
