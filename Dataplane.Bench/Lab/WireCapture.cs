using System.Buffers.Binary;

namespace Control.Bench;

/// <summary>
/// Per-packet encapsulation overhead measured on the underlay: pings of a known inner IPv4 size are captured on a
/// node's eth0 (tcpdump, classic pcap, Ethernet link type) and the outer IPv4 total length is compared with the inner.
/// </summary>
internal static class WireCapture
{
    /// <summary>
    /// The most frequent (outer IPv4 total length − <paramref name="innerIpLength"/>) among captured IPv4 frames at
    /// least as long as the inner packet and at most 200 bytes longer (anything else is other traffic); null if none.
    /// </summary>
    public static int? OverheadBytes(ReadOnlySpan<byte> pcap, int innerIpLength)
    {
        if (pcap.Length < 24)
            return null;
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(pcap);
        bool little = magic is 0xa1b2c3d4 or 0xa1b23c4d;
        if (!little && BinaryPrimitives.ReadUInt32BigEndian(pcap) is not (0xa1b2c3d4 or 0xa1b23c4d))
            return null;
        uint linkType = little ? BinaryPrimitives.ReadUInt32LittleEndian(pcap[20..]) : BinaryPrimitives.ReadUInt32BigEndian(pcap[20..]);
        if (linkType != 1) // LINKTYPE_ETHERNET
            return null;
        var histogram = new Dictionary<int, int>();
        int offset = 24;
        while (offset + 16 <= pcap.Length)
        {
            var rec = pcap[offset..];
            int caplen = (int)(little ? BinaryPrimitives.ReadUInt32LittleEndian(rec[8..]) : BinaryPrimitives.ReadUInt32BigEndian(rec[8..]));
            offset += 16;
            if (caplen < 0 || offset + caplen > pcap.Length)
                break;
            var frame = pcap.Slice(offset, caplen);
            offset += caplen;
            if (frame.Length < 14 + 20 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800)
                continue;
            int total = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
            int overhead = total - innerIpLength;
            if (overhead is >= 0 and <= 200)
                histogram[overhead] = histogram.GetValueOrDefault(overhead) + 1;
        }
        return histogram.Count == 0 ? null : histogram.MaxBy(kv => kv.Value).Key;
    }
}
