using System.CommandLine;

namespace Control.Commands;

/// <summary>
/// The <c>dataplane</c> command line: verbs are System.CommandLine subcommands; their arguments are first
/// normalised from Go's flag syntax (<see cref="GoFlagSyntax"/>) so flanneld command lines and FLANNELD_*
/// variables work unchanged. New verbs (lab, bench) implement <see cref="IVerb"/> and are listed in <see cref="Verbs"/>.
/// </summary>
internal static class Cli
{
    /// <summary>The verbs, in help order.</summary>
    public static IReadOnlyList<IVerb> Verbs { get; } = [new RunVerb(), new AcquireVerb(), new LeasesVerb(), new LabVerb(), new BenchVerb(), new UdpBlastVerb(), new UdpSinkVerb()];

    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static int Run(string[] args, CliContext context)
    {
        var root = new RootCommand("dataplane: a userspace overlay dataplane that takes flanneld's place (udp, vxlan and host-gw backends).");
        foreach (var verb in Verbs)
            root.Subcommands.Add(verb.Build(context));

        List<string> canonical;
        try
        {
            canonical = Canonicalize(args, context);
        }
        catch (ControlException e)
        {
            context.Error.WriteLine($"dataplane: {e.Message}");
            return e.ExitCode;
        }

        var parsed = root.Parse(canonical);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                context.Error.WriteLine($"dataplane: {error.Message}");
            return ExitCodes.Usage;
        }
        return parsed.Invoke(new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Error,
            EnableDefaultExceptionHandler = false,
        });
    }

    private static List<string> Canonicalize(string[] args, CliContext context)
    {
        // flanneld has no verbs: its command line is all flags. A first argument that is a flag (other than help and
        // version, which stay root-level) means `run`, so `dataplane --etcd-endpoints=… --iface=eth0` is flanneld's
        // command line working unchanged; `run` stays as an explicit alias. No arguments at all also runs, as flanneld.
        if (args.Length == 0 || (args[0].StartsWith('-') && !IsRootFlag(args[0])))
            args = ["run", .. args];
        if (args.Length > 1 && Verbs.FirstOrDefault(v => v.Name == args[0]) is { TakesAction: true } actionVerb && !args[1].StartsWith('-'))
        {
            var rest = GoFlagSyntax.Normalize(actionVerb.Name, args[2..], actionVerb.Flags, actionVerb.Unsupported, null);
            return [actionVerb.Name, args[1], .. rest];
        }
        if (args.Length > 0 && Verbs.FirstOrDefault(v => v.Name == args[0]) is { } verb)
        {
            var rest = GoFlagSyntax.Normalize(verb.Name, args[1..], verb.Flags, verb.Unsupported, verb.ReadsEnvironment ? context.Environment : null);
            return [verb.Name, .. rest];
        }
        // Root level: accept Go's single-dash spellings of help and version.

        return [.. args.Select(a => a switch
        {
            "-version" => "--version",
            "-help" or "-h" => "--help",
            _ => a,
        })];
    }

    private static bool IsRootFlag(string arg) => arg is "--version" or "-version" or "--help" or "-help" or "-h" or "-?" or "/?";
}
