using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Dataplane.Packets;

/// <summary>
/// An IPv4 address as a value: <see cref="Value"/> holds the address as a number in host order
/// (10.244.1.2 is 0x0AF40102), so comparisons and masks are plain integer operations.
/// Never allocates except when formatted as a string.
/// </summary>
public readonly record struct Ipv4Address(uint Value) : IComparable<Ipv4Address>, ISpanFormattable
{
    /// <summary>0.0.0.0</summary>
    public static Ipv4Address Any => default;

    /// <summary>Builds an address from its four dotted-quad octets.</summary>
    public Ipv4Address(byte a, byte b, byte c, byte d) : this((uint)(a << 24 | b << 16 | c << 8 | d)) { }

    /// <summary>Reads 4 bytes in network order.</summary>
    public static Ipv4Address Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    /// <summary>Writes 4 bytes in network order.</summary>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    /// <summary>Parses dotted-quad notation (exactly four decimal octets).</summary>
    public static Ipv4Address Parse(string text) =>
        TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not an IPv4 address");

    /// <summary>Parses dotted-quad notation (exactly four decimal octets, no leading '+', no spaces).</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out Ipv4Address address) =>
        TryParse(text.AsSpan(), out address) && text is not null;

    /// <inheritdoc cref="TryParse(string?, out Ipv4Address)"/>
    public static bool TryParse(ReadOnlySpan<char> text, out Ipv4Address address)
    {
        address = default;
        uint value = 0;
        int octets = 0;
        int i = 0;
        while (octets < 4)
        {
            int start = i;
            uint octet = 0;
            while (i < text.Length && text[i] is >= '0' and <= '9' && i - start < 3)
            {
                octet = octet * 10 + (uint)(text[i] - '0');
                i++;
            }
            if (i == start || octet > 255)
                return false;
            value = value << 8 | octet;
            octets++;
            if (octets < 4)
            {
                if (i >= text.Length || text[i] != '.')
                    return false;
                i++;
            }
        }
        if (i != text.Length)
            return false;
        address = new Ipv4Address(value);
        return true;
    }

    /// <summary>The address as a <see cref="System.Net.IPAddress"/> (allocates; not for the packet path).</summary>
    public System.Net.IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[4];
        Write(bytes);
        return new System.Net.IPAddress(bytes);
    }

    /// <summary>Converts an IPv4 <see cref="System.Net.IPAddress"/>.</summary>
    public static Ipv4Address FromIPAddress(System.Net.IPAddress address)
    {
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"{address} is not an IPv4 address", nameof(address));
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return Read(bytes);
    }

    /// <inheritdoc/>
    public int CompareTo(Ipv4Address other) => Value.CompareTo(other.Value);

    /// <inheritdoc/>
    public override string ToString() => ToString(null, null);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider)
    {
        Span<char> buffer = stackalloc char[15];
        TryFormat(buffer, out int written, default, null);
        return new string(buffer[..written]);
    }

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        destination.TryWrite(CultureInfo.InvariantCulture, $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}", out charsWritten);
}
