using System.Globalization;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;

namespace Control.Observe;

/// <summary>Builds the control socket's answers from a <see cref="DaemonInfo"/> (any thread; allocates, never on the packet path).</summary>
internal static class StatusBuilder
{
    /// <summary>The status report: node, data path, peers with their counters, drops.</summary>
    public static StatusReport Status(DaemonInfo info)
    {
        var setup = info.Setup;
        var dataPath = info.DataPath;
        var observable = dataPath as IObservableDataPath;
        var report = new StatusReport
        {
            Subnet = setup?.Lease.Subnet.ToString(),
            Network = setup?.Config.Network.ToString(),
            Backend = setup?.Config.Backend.TypeName,
            PublicIp = setup?.Lease.Attributes.PublicIP.ToString(),
            DataPath = dataPath?.Name,
            Ready = info.Ready,
            StartedAt = info.StartedAt,
            UptimeSeconds = Math.Round(info.Uptime.TotalSeconds, 3),
            LeaseExpiration = info.LeaseExpiration?.Invoke() ?? setup?.Lease.Expiration,
        };
        if (observable is null)
            return report;
        return report with
        {
            Io = observable.Io,
            Offloads = observable.Offloads,
            TableGeneration = observable.TableGeneration,
            Routes = observable.Table.Count,
            Peers = Peers(observable),
            Drops = observable.Drops.Snapshot().ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
            IcmpErrorsSent = observable.IcmpErrorsSent,
        };
    }

    /// <summary>
    /// Every peer the table routes to (with its subnets), then any address that counted traffic before and is gone now,
    /// then the unattributed slot if it counted anything.
    /// </summary>
    public static IReadOnlyList<PeerEntry> Peers(IObservableDataPath dataPath)
    {
        var subnets = new Dictionary<Dataplane.Packets.Ipv4Address, List<string>>();
        foreach (var (prefix, hop) in dataPath.Table.GetRoutes())
        {
            if (!subnets.TryGetValue(hop.Endpoint.Address, out var list))
                subnets[hop.Endpoint.Address] = list = [];
            list.Add(prefix.ToString());
        }
        var result = new List<PeerEntry>();
        foreach (var (address, list) in subnets)
            result.Add(Entry(address.ToString(), list, dataPath.Traffic.Totals(address)));
        foreach (var totals in dataPath.Traffic.Snapshot())
        {
            if (!subnets.ContainsKey(totals.Address) && totals.SentPackets + totals.ReceivedPackets > 0)
                result.Add(Entry(totals.Address == default ? "unattributed" : totals.Address.ToString(), [], totals));
        }
        return result;
    }

    private static PeerEntry Entry(string address, IReadOnlyList<string> subnets, PeerTrafficTotals t) => new()
    {
        Address = address,
        Subnets = subnets,
        SentPackets = t.SentPackets,
        SentBytes = t.SentBytes,
        ReceivedPackets = t.ReceivedPackets,
        ReceivedBytes = t.ReceivedBytes,
        LastSent = t.LastSent,
        LastReceived = t.LastReceived,
    };

    /// <summary>The forwarding table, one entry per route.</summary>
    public static IReadOnlyList<RouteEntry> Routes(DaemonInfo info)
    {
        if (info.DataPath is not IObservableDataPath observable)
            return [];
        return observable.Table.GetRoutes().Select(r => new RouteEntry(
            r.Prefix.ToString(),
            r.NextHop.Endpoint.ToString(),
            r.NextHop.Encapsulation == EncapsulationKind.Vxlan ? "vxlan" : "udp",
            r.NextHop.Encapsulation == EncapsulationKind.Vxlan ? r.NextHop.VtepMac.ToString() : null,
            r.NextHop.Encapsulation == EncapsulationKind.Vxlan ? r.NextHop.Vni : null)).ToList();
    }

    /// <summary>One traced drop for a follower.</summary>
    public static DropEntry Drop(TracedDrop drop, long missed) => new(
        drop.Sequence, drop.Time, drop.Reason.ToString(),
        drop.Layer == TracedLayer.TunPacket ? "out" : "in",
        drop.Layer switch
        {
            TracedLayer.FlannelUdpPayload => "flannel-udp",
            TracedLayer.VxlanPayload => "vxlan",
            _ => "ip",
        },
        drop.Peer == default ? null : string.Create(CultureInfo.InvariantCulture, $"{drop.Peer.Address}:{drop.Peer.Port}"),
        drop.OriginalLength, drop.Bytes, missed);
}
