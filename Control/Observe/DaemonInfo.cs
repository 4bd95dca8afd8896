using System.Diagnostics;
using Control.Daemon;
using Dataplane.Diagnostics;
using Dataplane.Forwarding;

namespace Control.Observe;

/// <summary>
/// What the observers (<c>/metrics</c>, the control socket) read about a running daemon. The run loop publishes each
/// piece as it becomes known (setup, data path, lease expiry); readers on any thread see either nothing yet or the
/// whole piece.
/// </summary>
internal sealed class DaemonInfo
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private volatile NodeSetup? _setup;
    private volatile IDataPath? _dataPath;
    private volatile Func<DateTimeOffset?>? _leaseExpiration;
    private volatile bool _ready;

    /// <summary>When the daemon started (wall clock).</summary>
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>Time since start (monotonic).</summary>
    public TimeSpan Uptime => Stopwatch.GetElapsedTime(_started);

    /// <summary>Lease, config and interface, once the lease is held.</summary>
    public NodeSetup? Setup { get => _setup; set => _setup = value; }

    /// <summary>The data path, once started.</summary>
    public IDataPath? DataPath { get => _dataPath; set => _dataPath = value; }

    /// <summary>Our lease's current expiry (null: static lease, or not known yet).</summary>
    public Func<DateTimeOffset?>? LeaseExpiration { get => _leaseExpiration; set => _leaseExpiration = value; }

    /// <summary>Ready as /readyz says.</summary>
    public bool Ready { get => _ready; set => _ready = value; }
}

/// <summary>
/// A data path the observers can look into: its table, per-peer counters, drops and the drop trace. Every member is
/// read from other threads while the pumps run (see <see cref="PeerTraffic"/> and <see cref="DropTrace"/> for why
/// that is safe).
/// </summary>
internal interface IObservableDataPath
{
    /// <summary>The I/O mode in effect (batch, per-packet…).</summary>
    string Io { get; }

    /// <summary>Offloads in effect, by name (tun_tso, tun_uso, udp_gso, udp_gro, mmsg).</summary>
    IReadOnlyDictionary<string, bool> Offloads { get; }

    /// <summary>The forwarding table.</summary>
    ForwardingTable Table { get; }

    /// <summary>Route batches applied so far: changes whenever the table does.</summary>
    long TableGeneration { get; }

    /// <summary>Per-peer counters.</summary>
    PeerTraffic Traffic { get; }

    /// <summary>Drops by reason, with the drop trace.</summary>
    DropCounters Drops { get; }

    /// <summary>ICMP errors written back into the TUN.</summary>
    long IcmpErrorsSent { get; }
}
