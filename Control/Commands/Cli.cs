using System.CommandLine;

namespace Control.Commands;

/// <summary>
/// A command line of verbs: each verb is a System.CommandLine subcommand; its arguments are first normalised from Go's
/// flag syntax (<see cref="GoFlagSyntax"/>) so flanneld command lines and FLANNELD_* variables work unchanged. The
/// daemon's verbs are <see cref="Verbs"/> (<c>dataplane</c>); another executable (Dataplane.Bench's lab benchmark and
/// generators) builds its own <see cref="Cli"/> over its own verbs. A new verb implements <see cref="IVerb"/> and is
/// added to a list.
/// </summary>
/// <param name="program">The program name in messages (<c>dataplane</c>).</param>
/// <param name="description">The root command's help text.</param>
/// <param name="verbs">The verbs, in help order.</param>
/// <param name="defaultVerb">The verb run when the first argument is a flag or there are none (flanneld's command line is all flags); null: none.</param>
internal sealed class Cli(string program, string description, IReadOnlyList<IVerb> verbs, string? defaultVerb)
{
    /// <summary>The daemon's verbs, in help order.</summary>
    public static IReadOnlyList<IVerb> Verbs { get; } = [new RunVerb(), new AcquireVerb(), new LeasesVerb(), new LabVerb(), .. ObserveVerbs];

    /// <summary>The control-socket clients (status, routes, drops).</summary>
    private static IVerb[] ObserveVerbs => [new StatusVerb(), new RoutesVerb(), new DropsVerb()];

    /// <summary>The <c>dataplane</c> command line.</summary>
    public static Cli Dataplane { get; } = new("dataplane",
        "dataplane: a userspace overlay dataplane that takes flanneld's place (udp, vxlan and host-gw backends).", Verbs, "run");

    /// <summary>Runs the <c>dataplane</c> command line; returns the process exit code.</summary>
    public static int Run(string[] args, CliContext context) => Dataplane.Execute(args, context);

    /// <summary>True when <paramref name="name"/> is one of this command line's verbs.</summary>
    public bool HasVerb(string name) => verbs.Any(v => v.Name == name);

    /// <summary>Runs <paramref name="args"/>; returns the process exit code (usage errors: 2).</summary>
    public int Execute(string[] args, CliContext context)
    {
        var root = new RootCommand(description);
        foreach (var verb in verbs)
            root.Subcommands.Add(verb.Build(context));

        List<string> canonical;
        try
        {
            canonical = Canonicalize(args, context);
        }
        catch (ControlException e)
        {
            context.Error.WriteLine($"{program}: {e.Message}");
            return e.ExitCode;
        }

        var parsed = root.Parse(canonical);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                context.Error.WriteLine($"{program}: {error.Message}");
            return ExitCodes.Usage;
        }
        return parsed.Invoke(new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Error,
            EnableDefaultExceptionHandler = false,
        });
    }

    private List<string> Canonicalize(string[] args, CliContext context)
    {
        // flanneld has no verbs: its command line is all flags. A first argument that is a flag (other than help and
        // version, which stay root-level) means `run`, so `dataplane --etcd-endpoints=… --iface=eth0` is flanneld's
        // command line working unchanged; `run` stays as an explicit alias. No arguments at all also runs, as flanneld.
        if (defaultVerb is not null && (args.Length == 0 || (args[0].StartsWith('-') && !IsRootFlag(args[0]))))
            args = [defaultVerb, .. args];
        if (args.Length > 1 && verbs.FirstOrDefault(v => v.Name == args[0]) is { TakesAction: true } actionVerb && !args[1].StartsWith('-'))
        {
            var rest = GoFlagSyntax.Normalize(actionVerb.Name, args[2..], actionVerb.Flags, actionVerb.Unsupported, null);
            return [actionVerb.Name, args[1], .. rest];
        }
        if (args.Length > 0 && verbs.FirstOrDefault(v => v.Name == args[0]) is { } verb)
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
