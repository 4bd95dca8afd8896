using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Dataplane.Packets;

/// <summary>
/// A 48-bit Ethernet address held in the low 48 bits of a <see cref="ulong"/> (first octet most significant).
/// </summary>
public readonly record struct MacAddress(ulong Value)
{
    /// <summary>Length of a MAC address on the wire.</summary>
    public const int Length = 6;

    /// <summary>ff:ff:ff:ff:ff:ff</summary>
    public static MacAddress Broadcast => new(0xFFFF_FFFF_FFFFUL);

    /// <summary>Reads 6 bytes.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> source) =>
        new((ulong)source[0] << 40 | (ulong)source[1] << 32 | (ulong)source[2] << 24 |
            (ulong)source[3] << 16 | (ulong)source[4] << 8 | source[5]);

    /// <summary>Writes 6 bytes.</summary>
    public void Write(Span<byte> destination)
    {
        destination[5] = (byte)Value;
        destination[4] = (byte)(Value >> 8);
        destination[3] = (byte)(Value >> 16);
        destination[2] = (byte)(Value >> 24);
        destination[1] = (byte)(Value >> 32);
        destination[0] = (byte)(Value >> 40);
    }

    /// <summary>Group (multicast/broadcast) bit: least significant bit of the first octet.</summary>
    public bool IsMulticast => (Value >> 40 & 0x01) != 0;

    /// <summary>Locally administered bit: second least significant bit of the first octet.</summary>
    public bool IsLocallyAdministered => (Value >> 40 & 0x02) != 0;

    /// <summary>
    /// A random locally administered unicast address, as flannel's <c>mac.NewHardwareAddr</c> makes one
    /// (<c>b[0] = (b[0] &amp; 0xfe) | 0x02</c>, pkg/mac/mac.go).
    /// </summary>
    public static MacAddress NewRandomLocal(Random? random = null)
    {
        Span<byte> b = stackalloc byte[Length];
        (random ?? Random.Shared).NextBytes(b);
        b[0] = (byte)((b[0] & 0xFE) | 0x02);
        return Read(b);
    }

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" (or '-' separated), case-insensitive.</summary>
    public static MacAddress Parse(string text) =>
        TryParse(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address");

    /// <inheritdoc cref="Parse"/>
    public static bool TryParse([NotNullWhen(true)] string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null || text.Length != 17)
            return false;
        ulong value = 0;
        for (int i = 0; i < 6; i++)
        {
            if (i > 0 && text[i * 3 - 1] is not (':' or '-'))
                return false;
            if (!byte.TryParse(text.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte octet))
                return false;
            value = value << 8 | octet;
        }
        mac = new MacAddress(value);
        return true;
    }

    /// <summary>Lowercase, colon separated: Go's <c>net.HardwareAddr.String()</c> form.</summary>
    public override string ToString() => string.Create(17, Value, static (span, v) =>
    {
        const string hex = "0123456789abcdef";
        for (int i = 0; i < 6; i++)
        {
            byte b = (byte)(v >> (40 - 8 * i));
            span[i * 3] = hex[b >> 4];
            span[i * 3 + 1] = hex[b & 0xF];
            if (i < 5)
                span[i * 3 + 2] = ':';
        }
    });
}
