namespace Control.Bench;

/// <summary>
/// One network mode the benchmark measures. Modes are data: <see cref="BenchModes.All"/> lists them, and adding a
/// mode is one entry there.
/// </summary>
/// <param name="Name">The <c>--modes</c> name.</param>
/// <param name="Description">One line for the report.</param>
/// <param name="ExpectedOverheadBytes">Bytes each packet grows by on the underlay (computed from the wire format; the capture checks it).</param>
/// <param name="Daemon">Set for our daemon's modes: what to run; null for modes the kernel does alone.</param>
/// <param name="Kernel">Set for kernel-only modes: how to program and clean the nodes; null for daemon modes.</param>
/// <param name="Baseline">The mode the report's ratios compare this one against (its per-packet baseline); null for baselines and kernel modes.</param>
/// <param name="OptIn">Left out of the default run (runs only when named in <c>--modes</c>, or with <c>--modes all</c>).</param>
internal sealed record BenchMode(
    string Name,
    string Description,
    int ExpectedOverheadBytes,
    DaemonSpec? Daemon = null,
    KernelSpec? Kernel = null,
    string? Baseline = null,
    bool OptIn = false)
{
    /// <summary>True when a dataplane process does the work (its CPU, context switches and syscalls are measured).</summary>
    public bool HasDaemon => Daemon is not null;
}

/// <summary>Our daemon: backend type written to the lease store's config, and the daemon's extra arguments.</summary>
/// <param name="Backend">"udp", "vxlan" or "host-gw".</param>
/// <param name="Arguments">E.g. ["--io", "per-packet"].</param>
/// <param name="RequiredHelpText">Strings <c>dataplane run --help</c> must print for this mode to exist yet (a later issue may add it).</param>
internal sealed record DaemonSpec(string Backend, IReadOnlyList<string> Arguments, IReadOnlyList<string> RequiredHelpText);

/// <summary>A kernel-only mode: program the nodes (and write their subnet.env), and undo it.</summary>
internal sealed record KernelSpec(Action<Lab.LabLayout, int> Apply, Action<Lab.LabLayout, int> Remove);
