using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Dataplane.Packets;

/// <summary>
/// An IPv4 network in CIDR form. The address is always canonical (host bits cleared), so two prefixes
/// that cover the same addresses compare equal.
/// </summary>
public readonly record struct Ipv4Prefix
{
    /// <summary>Creates a prefix, clearing the host bits of <paramref name="address"/>.</summary>
    public Ipv4Prefix(Ipv4Address address, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 32);
        Length = length;
        Address = new Ipv4Address(address.Value & MaskOf(length));
    }

    /// <summary>The network address (host bits zero).</summary>
    public Ipv4Address Address { get; }

    /// <summary>Prefix length, 0..32.</summary>
    public int Length { get; }

    /// <summary>The netmask as a host-order number.</summary>
    public uint Mask => MaskOf(Length);

    /// <summary>Number of addresses covered.</summary>
    public ulong Size => 1UL << (32 - Length);

    /// <summary>The last address of the prefix.</summary>
    public Ipv4Address LastAddress => new(Address.Value | ~Mask);

    /// <summary>True when <paramref name="address"/> lies inside this prefix.</summary>
    public bool Contains(Ipv4Address address) => (address.Value & Mask) == Address.Value;

    /// <summary>True when <paramref name="other"/> lies entirely inside this prefix.</summary>
    public bool Contains(Ipv4Prefix other) => other.Length >= Length && Contains(other.Address);

    /// <summary>True when the two prefixes share at least one address.</summary>
    public bool Overlaps(Ipv4Prefix other) => Contains(other.Address) || other.Contains(Address);

    /// <summary>The netmask for a prefix length, as a host-order number (0 for /0).</summary>
    public static uint MaskOf(int length) => length == 0 ? 0u : uint.MaxValue << (32 - length);

    /// <summary>Parses "a.b.c.d/len". Host bits are cleared, as Go's net.ParseCIDR does for the network.</summary>
    public static Ipv4Prefix Parse(string text) =>
        TryParse(text, out var prefix) ? prefix : throw new FormatException($"'{text}' is not an IPv4 CIDR (a.b.c.d/len)");

    /// <inheritdoc cref="Parse"/>
    public static bool TryParse([NotNullWhen(true)] string? text, out Ipv4Prefix prefix)
    {
        prefix = default;
        if (text is null)
            return false;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
            return false;
        if (!Ipv4Address.TryParse(text.AsSpan(0, slash), out var address))
            return false;
        var lenText = text.AsSpan(slash + 1);
        if (lenText.Length is 0 or > 2 || !int.TryParse(lenText, NumberStyles.None, CultureInfo.InvariantCulture, out int length) || length > 32)
            return false;
        prefix = new Ipv4Prefix(address, length);
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Address}/{Length}";
}
