using System.Text.Json;

namespace Control.Bench;

/// <summary>The parts of an iperf3 <c>-J</c> client report the benchmark uses.</summary>
/// <param name="ReceivedBytes">TCP: bytes the receiver got (<c>end.sum_received.bytes</c>); UDP: bytes the sender sent.</param>
/// <param name="ReceivedBitsPerSecond">TCP: receiver-side rate (<c>end.sum_received.bits_per_second</c>).</param>
/// <param name="Seconds">Length of the measured interval.</param>
/// <param name="Retransmits">TCP retransmits summed over streams (<c>end.sum_sent.retransmits</c>); 0 for UDP.</param>
/// <param name="SentPackets">UDP: datagrams the client sent (<c>end.sum_sent.packets</c>); 0 for TCP.</param>
internal sealed record Iperf3Result(long ReceivedBytes, double ReceivedBitsPerSecond, double Seconds, long Retransmits, long SentPackets)
{
    /// <summary>Parses iperf3 3.x JSON; throws <see cref="BenchException"/> on an error report or missing fields.</summary>
    public static Iperf3Result Parse(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new BenchException($"iperf3 printed no JSON ({ex.Message}): {Truncate(json)}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.TryGetProperty("error", out var error))
                throw new BenchException($"iperf3: {error.GetString()}");
            if (!root.TryGetProperty("end", out var end) || !end.TryGetProperty("sum_sent", out var sent))
                throw new BenchException($"iperf3 JSON has no end.sum_sent: {Truncate(json)}");
            bool udp = root.TryGetProperty("start", out var start) && start.TryGetProperty("test_start", out var ts)
                && ts.TryGetProperty("protocol", out var proto) && proto.GetString() == "UDP";
            if (udp)
            {
                return new Iperf3Result(Long(sent, "bytes"), Double(sent, "bits_per_second"), Double(sent, "seconds"), 0, Long(sent, "packets"));
            }
            if (!end.TryGetProperty("sum_received", out var received))
                throw new BenchException($"iperf3 JSON has no end.sum_received: {Truncate(json)}");
            return new Iperf3Result(Long(received, "bytes"), Double(received, "bits_per_second"), Double(received, "seconds"),
                sent.TryGetProperty("retransmits", out var r) ? r.GetInt64() : 0, 0);
        }
    }

    private static long Long(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? (long)v.GetDouble() : throw new BenchException($"iperf3 JSON lacks {name}");

    private static double Double(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.GetDouble() : throw new BenchException($"iperf3 JSON lacks {name}");

    private static string Truncate(string s) => s.Length <= 300 ? s.Trim() : s[..300] + "…";
}
