using System.Runtime.InteropServices;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// rtnetlink (NETLINK_ROUTE) from C#: links, addresses, routes, neighbours and FDB entries, without
/// shelling out to <c>ip</c>. Control path only (it allocates); thread-safe (requests are serialized).
/// </summary>
/// <remarks>
/// The socket works on the network namespace of the thread that created it, for its whole life: create
/// it inside <see cref="NetworkNamespace.Run{T}"/> to manage a test namespace. Every failure is a
/// <see cref="PlatformException"/> naming the object, e.g.
/// <c>"add route 10.244.0.0/16 dev flannel0: File exists (errno 17 from RTM_NEWROUTE)"</c>, with the
/// kernel's extended-ACK text when it sent one.
/// </remarks>
public sealed partial class RtNetlink : IDisposable
{
    private readonly NetlinkSocket _socket;

    /// <summary>Opens a NETLINK_ROUTE socket in the calling thread's network namespace.</summary>
    public RtNetlink() => _socket = new NetlinkSocket();

    /// <summary>Closes the socket.</summary>
    public void Dispose() => _socket.Dispose();

    private List<NetlinkMessage> Request(NetlinkMessageBuilder message, string what) => _socket.Request(message, what);

    private static NetlinkMessageBuilder Ack(ushort type, ushort flags = 0) => new(type, (ushort)(Nl.F_REQUEST | Nl.F_ACK | flags));

    private static NetlinkMessageBuilder Dump(ushort type) => new(type, Nl.F_REQUEST | Nl.F_DUMP);

    /// <summary>Appends an ifinfomsg.</summary>
    private static void IfInfo(NetlinkMessageBuilder m, int index, uint flags = 0, uint change = 0)
    {
        var s = m.Append(Nl.IfInfoLength);
        MemoryMarshal.Write(s[4..], index);
        MemoryMarshal.Write(s[8..], flags);
        MemoryMarshal.Write(s[12..], change);
    }

    /// <summary>"dev flannel0" for messages (best effort: "dev #7" if the index no longer exists).</summary>
    private string DeviceText(int? index)
    {
        if (index is not int i)
            return "";
        try
        {
            return $" dev {TryGetLink(i)?.Name ?? "#" + i}";
        }
        catch (PlatformException)
        {
            return $" dev #{i}";
        }
    }
}
