using System.CommandLine;
using System.Globalization;
using Control.Lab;

namespace Control.Commands;

/// <summary>
/// <c>dataplane lab up|down|status|demo</c>: the namespace lab (see <see cref="Lab.Lab"/>). <c>demo</c> is the README's first
/// command: up, show pod-to-pod ping and TCP through the dataplane with the figures, show leases and routes, down.
/// </summary>
internal sealed class LabVerb : IVerb
{
    /// <inheritdoc/>
    public string Name => "lab";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("nodes", FlagKind.Value, "number of nodes, each with one pod (default 2)", "N"),
        new("backend", FlagKind.Value, "backend written to the lease store's config: udp (default), vxlan or host-gw", "TYPE"),
        new("ip-masq", FlagKind.Bool, "run the daemons with --ip-masq"),
        new("io", FlagKind.Value, "the daemons' --io mode: batch (the daemon's default), batch-threads, per-packet or per-packet-threads", "MODE"),
        new("store", FlagKind.Value, "lease store: dir (default, the embedded store) or etcd (one etcd member in the underlay namespace; the daemons get flanneld's --etcd-endpoints/--etcd-prefix)", "STORE"),
        new("state-dir", FlagKind.Value, "where the lab keeps leases, subnet files and logs (default /run/dataplane-lab, suffixed by DATAPLANE_LAB_PREFIX when set)", "DIR"),
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public bool TakesAction => true;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "A namespace lab on this machine: nodes running dataplane on a shared underlay, pods attached by the CNI bridge plugin.");
        var action = new Argument<string>("action") { Description = "up | down | status | demo" };
        command.Arguments.Add(action);
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var lab = new Lab.Lab(new LabLayout(options.Value(result, "state-dir")), context.Out);
                var labOptions = new LabOptions
                {
                    Nodes = ParseNodes(options.Value(result, "nodes")),
                    Backend = options.Value(result, "backend") ?? "udp",
                    IpMasq = options.Bool(result, "ip-masq"),
                    Store = options.Value(result, "store") ?? "dir",
                    DaemonArgs = ParseIo(options.Value(result, "io")),
                };
                switch (result.GetValue(action))
                {
                    case "up":
                        lab.Up(labOptions);
                        context.Out.Write(lab.Status());
                        return ExitCodes.Ok;
                    case "down":
                        lab.Down();
                        context.Out.WriteLine("lab is down");
                        return ExitCodes.Ok;
                    case "status":
                        context.Out.Write(lab.Status());
                        return ExitCodes.Ok;
                    case "demo":
                        return LabDemo.Run(lab, labOptions, context.Out);
                    case var other:
                        throw ControlException.Usage($"unknown lab action '{other}': use up, down, status or demo");
                }
            }
            catch (LabException e)
            {
                context.Error.WriteLine($"dataplane: lab: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (ControlException e)
            {
                context.Error.WriteLine($"dataplane: {e.Message}");
                return e.ExitCode;
            }
        });
        return command;
    }

    // Checked here with the daemon's own parser, so a typo fails before any namespace exists rather than in each daemon's log.
    private static string[] ParseIo(string? text)
    {
        if (text is null)
            return [];
        RunOptionsReader.ParseIo(text);
        return ["--io", text];
    }

    private static int ParseNodes(string? text)
    {
        if (text is null)
            return 2;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n is < 1 or > 200)
            throw ControlException.Usage($"invalid --nodes '{text}': must be 1..200");
        return n;
    }
}
