using System.Text.Json.Serialization;

namespace Control.Observe;

/// <summary>A request on the control socket: <c>status</c>, <c>routes</c> or <c>drops</c> (follow dropped packets).</summary>
internal sealed record ControlRequest(string Command);

/// <summary>The answer to one request: <see cref="Ok"/> and one of the payloads, or an error.</summary>
internal sealed record ControlResponse
{
    public bool Ok { get; init; }
    public string? Error { get; init; }
    public StatusReport? Status { get; init; }
    public IReadOnlyList<RouteEntry>? Routes { get; init; }

    /// <summary>With <c>drops</c>: one traced drop per frame, after a first frame with Ok only.</summary>
    public DropEntry? Drop { get; init; }
}

/// <summary>Everything <c>dataplane status</c> shows.</summary>
internal sealed record StatusReport
{
    public string? Subnet { get; init; }
    public string? Network { get; init; }
    public string? Backend { get; init; }
    public string? PublicIp { get; init; }
    public string? DataPath { get; init; }
    public string? Io { get; init; }
    public IReadOnlyDictionary<string, bool> Offloads { get; init; } = new Dictionary<string, bool>();
    public bool Ready { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public double UptimeSeconds { get; init; }
    public DateTimeOffset? LeaseExpiration { get; init; }
    public long TableGeneration { get; init; }
    public int Routes { get; init; }
    public IReadOnlyList<PeerEntry> Peers { get; init; } = [];
    public IReadOnlyDictionary<string, long> Drops { get; init; } = new Dictionary<string, long>();
    public long IcmpErrorsSent { get; init; }
}

/// <summary>One peer (an underlay address) with its subnets and counters.</summary>
internal sealed record PeerEntry
{
    public string Address { get; init; } = "";
    public IReadOnlyList<string> Subnets { get; init; } = [];
    public long SentPackets { get; init; }
    public long SentBytes { get; init; }
    public long ReceivedPackets { get; init; }
    public long ReceivedBytes { get; init; }
    public DateTimeOffset? LastSent { get; init; }
    public DateTimeOffset? LastReceived { get; init; }
}

/// <summary>One forwarding-table entry.</summary>
internal sealed record RouteEntry(string Destination, string Peer, string Encapsulation, string? VtepMac, uint? Vni);

/// <summary>One traced drop as sent to a follower (the client decodes <see cref="Bytes"/>).</summary>
internal sealed record DropEntry(long Sequence, DateTimeOffset Time, string Reason, string Direction, string Layer, string? Peer,
    int Length, byte[] Bytes, long Missed);

/// <summary>Source-generated (reflection-free, trim and AOT safe) JSON for the control protocol.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlResponse))]
internal sealed partial class ControlJson : JsonSerializerContext;
