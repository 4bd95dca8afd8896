using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

public sealed partial class RtNetlink
{
    /// <summary>
    /// Adds <paramref name="address"/>/<paramref name="prefixLength"/> to interface <paramref name="index"/>
    /// (flannel0: the node subnet's network address as /32, e.g. 10.244.1.0/32).
    /// </summary>
    /// <exception cref="PlatformException">EEXIST when the interface already has it.</exception>
    public void AddAddress(int index, Ipv4Address address, int prefixLength) =>
        Request(AddressMessage(Nl.RTM_NEWADDR, Nl.F_CREATE | Nl.F_EXCL, index, address, prefixLength),
            $"add address {address}/{prefixLength}{DeviceText(index)}");

    /// <summary>Removes an address from an interface.</summary>
    /// <exception cref="PlatformException">EADDRNOTAVAIL when the interface does not have it.</exception>
    public void DeleteAddress(int index, Ipv4Address address, int prefixLength) =>
        Request(AddressMessage(Nl.RTM_DELADDR, 0, index, address, prefixLength),
            $"delete address {address}/{prefixLength}{DeviceText(index)}");

    /// <summary>IPv4 addresses, of one interface or (index null) of all.</summary>
    public IReadOnlyList<AddressInfo> ListAddresses(int? index = null)
    {
        var m = Dump(Nl.RTM_GETADDR);
        var s = m.Append(Nl.IfAddrLength);
        s[0] = Interop.Libc.AF_INET;
        var result = new List<AddressInfo>();
        foreach (var reply in Request(m, "list addresses"))
            if (reply.Type == Nl.RTM_NEWADDR && RtNetlinkParser.Address(reply.Payload) is { } a && (index is null || a.LinkIndex == index))
                result.Add(a);
        return result;
    }

    private static NetlinkMessageBuilder AddressMessage(ushort type, ushort flags, int index, Ipv4Address address, int prefixLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        var m = Ack(type, flags);
        var s = m.Append(Nl.IfAddrLength);
        s[0] = Interop.Libc.AF_INET;
        s[1] = (byte)prefixLength;
        System.Runtime.InteropServices.MemoryMarshal.Write(s[4..], (uint)index);
        // For a non point-to-point IPv4 address iproute2 sends both, equal.
        m.Ipv4(Nl.IFA_LOCAL, address);
        m.Ipv4(Nl.IFA_ADDRESS, address);
        return m;
    }
}
