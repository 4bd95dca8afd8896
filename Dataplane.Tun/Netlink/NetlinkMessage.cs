namespace Dataplane.Tun.Netlink;

/// <summary>One received netlink message: its type and flags and a copy of its payload (after nlmsghdr).</summary>
internal readonly record struct NetlinkMessage(ushort Type, ushort Flags, byte[] Payload);
