using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Dataplane.Packets;
using Dataplane.Testing;
using Dataplane.Tun;

namespace Control.Tests.EndToEnd;

/// <summary>
/// The scratch world of one end-to-end test: namespace <c>node</c> (eth0 198.18.0.1/24) joined by a veth to namespace
/// <c>peer</c> (eth0 198.18.0.2/24), a private lease dir (udp backend, Network 10.244.0.0/16) holding a static lease
/// 10.244.2.0/24 → 198.18.0.2 for the flannel-shaped peer, and a private subnet file. Dispose kills every daemon
/// started through it and deletes the namespaces and files, also when the test failed.
/// </summary>
internal sealed class NodeAndPeer : IDisposable
{
    public const string NodeIp = "198.18.0.1";
    public const string PeerIp = "198.18.0.2";
    public const string Network = "10.244.0.0/16";
    public const string PeerSubnet = "10.244.2.0/24";
    public const int Port = 8285;

    /// <summary>Startup of a dotnet process on a busy 2-core machine: generous.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A pod address behind the peer.</summary>
    public static readonly IPAddress PeerPod = IPAddress.Parse("10.244.2.5");

    private readonly NetnsScope _scope = new();
    private readonly TempDir _dir = new();
    private readonly List<NamespacedDaemon> _daemons = new();
    private readonly List<IDisposable> _owned = new();

    public NodeAndPeer(int mtu = 1500, bool peerLease = true)
    {
        Prerequisites.RequireNetns();
        try
        {
            Node = _scope.Create("node");
            Peer = _scope.Create("peer");
            _scope.Veth(Node, "eth0", $"{NodeIp}/24", Peer, "eth0", $"{PeerIp}/24", mtu);
            _dir.Write("leases/config", $$$"""{"Network":"{{{Network}}}","Backend":{"Type":"udp"}}""");
            if (peerLease)
                _dir.Write("leases/subnets/10.244.2.0-24", $$"""{"PublicIP":"{{PeerIp}}","PublicIPv6":null}""");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Node { get; } = "";

    public string Peer { get; } = "";

    public string LeaseDir => _dir["leases"];

    public string SubnetFile => _dir["subnet.env"];

    /// <summary>The test's private temp directory.</summary>
    public string TempPath => _dir.Path;

    /// <summary><c>run</c> flags for this world plus <paramref name="extra"/>.</summary>
    public string[] RunArgs(params string[] extra) =>
        ["--lease-dir", LeaseDir, "--iface", "eth0", "--subnet-file", SubnetFile, .. extra];

    /// <summary>Starts a daemon in the node namespace without waiting; it is killed on dispose.</summary>
    public NamespacedDaemon Launch(IEnumerable<string> runArgs, IEnumerable<string>? wrapper = null)
    {
        var d = new NamespacedDaemon(Node, runArgs, wrapper);
        _daemons.Add(d);
        return d;
    }

    /// <summary>Starts a daemon and waits until its data path runs and (with the peer lease) the peer's route is programmed.</summary>
    public NamespacedDaemon StartDaemon(params string[] extra)
    {
        var d = Launch(RunArgs(extra));
        Assert.That(d.WaitForLog("Running with data path", StartTimeout), Is.True, "daemon did not start:\n" + d.Log);
        if (File.Exists(Path.Combine(LeaseDir, "subnets", "10.244.2.0-24")))
            Assert.That(d.WaitForLog($"route add {PeerSubnet}", TimeSpan.FromSeconds(10)), Is.True, "peer route not programmed:\n" + d.Log);
        return d;
    }

    /// <summary>Our subnet, from FLANNEL_SUBNET in the subnet file (the documented interface).</summary>
    public Ipv4Prefix OwnSubnet
    {
        get
        {
            var line = File.ReadAllLines(SubnetFile).Single(l => l.StartsWith("FLANNEL_SUBNET=", StringComparison.Ordinal));
            var parts = line["FLANNEL_SUBNET=".Length..].Split('/');
            int length = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            return new Ipv4Prefix(Ipv4Address.Parse(parts[0]), length); // the constructor clears the host bits
        }
    }

    /// <summary>flannel0's address: <c>&lt;subnet&gt;.0</c>.</summary>
    public IPAddress OwnTunAddress => IPAddress.Parse(OwnSubnet.Address.ToString());

    /// <summary>A UDP socket created (and bound, if <paramref name="bindIp"/> is given) inside <paramref name="ns"/>; closed on dispose.</summary>
    public Socket UdpSocket(string ns, string? bindIp = null, int port = 0)
    {
        var s = NetworkNamespace.Run(ns, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                if (bindIp is not null)
                    socket.Bind(new IPEndPoint(IPAddress.Parse(bindIp), port));
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        });
        _owned.Add(s);
        return s;
    }

    /// <summary>The peer's flannel socket: 198.18.0.2:8285.</summary>
    public Socket PeerFlannelSocket() => UdpSocket(Peer, PeerIp, Port);

    /// <summary>Registers something to dispose with the world (before the namespaces go).</summary>
    public T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary><c>ip -j …</c> in <paramref name="ns"/>, parsed.</summary>
    public static JsonElement IpJson(string ns, string args)
    {
        var text = NetnsScope.Exec(ns, $"ip -j {args}");
        using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(text) ? "[]" : text);
        return doc.RootElement.Clone();
    }

    /// <summary>True when link <paramref name="name"/> exists in <paramref name="ns"/>.</summary>
    public static bool LinkExists(string ns, string name) => NetnsScope.TryExec(ns, $"ip link show dev {name}").ExitCode == 0;

    /// <summary>Routes of <paramref name="ns"/> for exactly <see cref="Network"/>, as "type dev metric" strings.</summary>
    public static List<string> NetworkRoutes(string ns) =>
        IpJson(ns, $"route show exact {Network}").EnumerateArray()
            .Select(r => $"{Str(r, "type") ?? "unicast"} dev={Str(r, "dev") ?? "-"} metric={(r.TryGetProperty("metric", out var m) ? m.GetInt32() : 0)}")
            .ToList();

    public static bool HasGuardRoute(string ns) => NetworkRoutes(ns).Contains("unreachable dev=- metric=1000");

    public static bool HasTunRoute(string ns) => NetworkRoutes(ns).Contains("unicast dev=flannel0 metric=0");

    /// <summary>Polls <paramref name="condition"/> every 20 ms until true or <paramref name="timeout"/>; returns the time it took (null on timeout).</summary>
    public static TimeSpan? Poll(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (condition())
                return sw.Elapsed;
            if (sw.Elapsed > timeout)
                return null;
            Thread.Sleep(20);
        }
    }

    /// <summary>Receives one datagram within <paramref name="timeout"/>, or null.</summary>
    public static (byte[] Data, IPEndPoint From)? Receive(Socket socket, TimeSpan timeout)
    {
        if (!socket.Poll(timeout, SelectMode.SelectRead))
            return null;
        var buffer = new byte[65536];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        int n = socket.ReceiveFrom(buffer, ref from);
        return (buffer[..n], (IPEndPoint)from);
    }

    /// <summary>
    /// Every datagram that arrives: the first within <paramref name="first"/>, then until 500 ms pass without one
    /// (bounded by 200 datagrams).
    /// </summary>
    public static List<byte[]> Drain(Socket socket, TimeSpan first)
    {
        var all = new List<byte[]>();
        while (all.Count < 200 && Receive(socket, all.Count == 0 ? first : TimeSpan.FromMilliseconds(500)) is { } d)
            all.Add(d.Data);
        return all;
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var d in _daemons)
            d.Dispose();
        foreach (var o in _owned)
            o.Dispose();
        _scope.Dispose();
        _dir.Dispose();
    }
}
