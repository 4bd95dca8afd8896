namespace Dataplane.Testing;

/// <summary>
/// Owns a set of network namespaces for one test and deletes them (and everything in them: veths,
/// TUNs, routes) on dispose, also when the test fails. Names carry a per-process random tag so parallel
/// runs and leftovers from a crashed run never collide.
/// </summary>
public sealed class NetnsScope : IDisposable
{
    private readonly List<string> _names = new();

    /// <summary>A short random tag unique to this scope.</summary>
    public string Tag { get; } = Guid.NewGuid().ToString("N")[..6];

    /// <summary>Creates a namespace named <c>dpt-{tag}-{suffix}</c> with loopback up and returns its name.</summary>
    public string Create(string suffix)
    {
        var name = $"dpt-{Tag}-{suffix}";
        Sh.Ok($"ip netns add {name}");
        _names.Add(name);
        Exec(name, "ip link set lo up");
        return name;
    }

    /// <summary>Runs a command inside <paramref name="ns"/> and checks its exit code.</summary>
    public static string Exec(string ns, string commandLine) => Sh.Ok($"ip netns exec {ns} {commandLine}");

    /// <summary>Runs a command inside <paramref name="ns"/> and returns the result unchecked.</summary>
    public static Sh.Result TryExec(string ns, string commandLine, TimeSpan? timeout = null) =>
        Sh.Run("ip", new[] { "netns", "exec", ns }.Concat(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)), timeout);

    /// <summary>Creates a veth pair with one end in each namespace, addresses them and brings them up.</summary>
    public void Veth(string nsA, string ifA, string cidrA, string nsB, string ifB, string cidrB, int mtu = 1500)
    {
        var tmpA = $"v{Tag}a{_names.Count}";
        var tmpB = $"v{Tag}b{_names.Count}";
        Sh.Ok($"ip link add {tmpA} mtu {mtu} type veth peer name {tmpB} mtu {mtu}");
        Sh.Ok($"ip link set {tmpA} netns {nsA} name {ifA}");
        Sh.Ok($"ip link set {tmpB} netns {nsB} name {ifB}");
        Exec(nsA, $"ip addr add {cidrA} dev {ifA}");
        Exec(nsB, $"ip addr add {cidrB} dev {ifB}");
        Exec(nsA, $"ip link set {ifA} up");
        Exec(nsB, $"ip link set {ifB} up");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var name in _names)
        {
            // Kill anything still running inside, then delete; failures are ignored so cleanup always continues.
            var pids = Sh.Run("ip", new[] { "netns", "pids", name });
            foreach (var pid in pids.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                Sh.Run("kill", new[] { "-9", pid.Trim() });
            Sh.Run("ip", new[] { "netns", "del", name });
        }
        _names.Clear();
    }
}
