using System.Globalization;
using System.Text;

namespace Control.Observe;

/// <summary>
/// The daemon's part of <c>/metrics</c> (the data path appends its own aggregate counters): Prometheus text exposition
/// format 0.0.4, names with the <c>dataplane_</c> prefix, <c>_total</c> on counters, base units (bytes, seconds; times
/// as unix seconds).
/// </summary>
internal static class MetricsText
{
    /// <summary>Appends node info, uptime, lease expiry, table generation and the per-peer counters.</summary>
    public static void Write(StringBuilder text, DaemonInfo info)
    {
        var setup = info.Setup;
        if (setup is not null)
        {
            Header(text, "dataplane_node_info", "gauge", "This node: subnet, network, backend, public IP (always 1).");
            Sample(text, "dataplane_node_info", 1, ("subnet", setup.Lease.Subnet.ToString()), ("network", setup.Config.Network.ToString()),
                ("backend", setup.Config.Backend.TypeName), ("public_ip", setup.Lease.Attributes.PublicIP.ToString()));
        }
        Header(text, "dataplane_start_time_seconds", "gauge", "When the daemon started, in unix seconds.");
        Sample(text, "dataplane_start_time_seconds", info.StartedAt.ToUnixTimeMilliseconds() / 1000.0);
        Header(text, "dataplane_uptime_seconds", "gauge", "Seconds since the daemon started.");
        Sample(text, "dataplane_uptime_seconds", Math.Round(info.Uptime.TotalSeconds, 3));
        Header(text, "dataplane_ready", "gauge", "1 once ready (as /readyz), else 0.");
        Sample(text, "dataplane_ready", info.Ready ? 1 : 0);
        if ((info.LeaseExpiration?.Invoke() ?? setup?.Lease.Expiration) is { } expiry)
        {
            Header(text, "dataplane_lease_expiry_timestamp_seconds", "gauge", "When our subnet lease expires unless renewed, in unix seconds.");
            Sample(text, "dataplane_lease_expiry_timestamp_seconds", expiry.ToUnixTimeSeconds());
        }
        if (info.DataPath is not IObservableDataPath dataPath)
            return;
        Header(text, "dataplane_forwarding_table_generation", "gauge", "Route batches applied to the forwarding table (changes whenever the table does).");
        Sample(text, "dataplane_forwarding_table_generation", dataPath.TableGeneration);
        Header(text, "dataplane_forwarding_table_routes", "gauge", "Routes in the forwarding table.");
        Sample(text, "dataplane_forwarding_table_routes", dataPath.Table.Count);

        var peers = StatusBuilder.Peers(dataPath);
        PeerFamily(text, peers, "dataplane_peer_sent_packets_total", "counter", "Datagrams sent to each peer (each segment of a super-packet counts one).", p => p.SentPackets);
        PeerFamily(text, peers, "dataplane_peer_sent_bytes_total", "counter", "UDP payload bytes sent to each peer.", p => p.SentBytes);
        PeerFamily(text, peers, "dataplane_peer_received_packets_total", "counter", "Datagrams received from each peer (that passed the stranger check).", p => p.ReceivedPackets);
        PeerFamily(text, peers, "dataplane_peer_received_bytes_total", "counter", "UDP payload bytes received from each peer.", p => p.ReceivedBytes);
        PeerFamily(text, peers, "dataplane_peer_last_sent_timestamp_seconds", "gauge", "When the last datagram was sent to each peer, in unix seconds (0: never).",
            p => p.LastSent is { } t ? Math.Round(t.ToUnixTimeMilliseconds() / 1000.0, 3) : 0);
        PeerFamily(text, peers, "dataplane_peer_last_received_timestamp_seconds", "gauge", "When the last datagram was received from each peer, in unix seconds (0: never).",
            p => p.LastReceived is { } t ? Math.Round(t.ToUnixTimeMilliseconds() / 1000.0, 3) : 0);
    }

    private static void PeerFamily(StringBuilder text, IReadOnlyList<PeerEntry> peers, string name, string type, string help, Func<PeerEntry, double> value)
    {
        Header(text, name, type, help);
        foreach (var p in peers)
            Sample(text, name, value(p), ("peer", p.Address), ("subnet", string.Join(',', p.Subnets)));
    }

    /// <summary>HELP and TYPE lines of one metric family.</summary>
    public static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal))
            .Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    /// <summary>One sample line; label values escaped as the format says (backslash, double quote, newline).</summary>
    public static void Sample(StringBuilder text, string name, double value, params (string Name, string Value)[] labels)
    {
        text.Append(name);
        if (labels.Length > 0)
        {
            text.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0)
                    text.Append(',');
                text.Append(labels[i].Name).Append("=\"")
                    .Append(labels[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal))
                    .Append('"');
            }
            text.Append('}');
        }
        text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }
}
