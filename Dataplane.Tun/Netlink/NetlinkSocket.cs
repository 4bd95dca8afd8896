using System.Runtime.InteropServices;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// A NETLINK_ROUTE socket for request/response (and, bound to groups, for notifications). Requests are
/// serialized by a lock; each carries a sequence number and waits for its ACK, error or NLMSG_DONE.
/// Extended ACKs (NETLINK_EXT_ACK) are enabled so kernel error strings ("Nexthop device is not up")
/// reach <see cref="PlatformException"/> messages.
/// </summary>
internal sealed class NetlinkSocket : IDisposable
{
    private const int ReceiveBufferSize = 1 << 16;

    private readonly SafeFdHandle _fd;
    private readonly object _lock = new();
    private readonly byte[] _receive = new byte[ReceiveBufferSize];
    private uint _sequence = (uint)Environment.TickCount;

    public NetlinkSocket(uint groups = 0, bool nonBlocking = false)
    {
        int raw = Libc.Socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC | (nonBlocking ? Libc.SOCK_NONBLOCK : 0), Libc.NETLINK_ROUTE);
        if (raw < 0)
            throw Errno.LastException("socket(AF_NETLINK, NETLINK_ROUTE)", "rtnetlink socket");
        _fd = new SafeFdHandle(raw);
        try
        {
            // Best effort: older kernels lack these; errors then carry errno only.
            Libc.SetSockOpt(_fd, Libc.SOL_NETLINK, Libc.NETLINK_EXT_ACK, 1);
            Libc.SetSockOpt(_fd, Libc.SOL_NETLINK, Libc.NETLINK_CAP_ACK, 1);
            var address = new SockAddrNl { Family = SockAddrNl.AF_NETLINK, Groups = groups };
            if (Libc.Bind(_fd, address) < 0)
                throw Errno.LastException("bind(AF_NETLINK)", "rtnetlink socket");
        }
        catch
        {
            _fd.Dispose();
            throw;
        }
    }

    public SafeFdHandle Handle => _fd;

    /// <summary>
    /// Sends <paramref name="request"/> and collects the replies. For a dump, every message up to
    /// NLMSG_DONE; otherwise the replies before the ACK (the request must carry NLM_F_ACK).
    /// </summary>
    /// <exception cref="PlatformException">The kernel answered with an error; the message names <paramref name="what"/>.</exception>
    public List<NetlinkMessage> Request(NetlinkMessageBuilder request, string what)
    {
        lock (_lock)
        {
            uint sequence = ++_sequence;
            var bytes = request.Finish(sequence);
            while (true)
            {
                if (Libc.Send(_fd, bytes, 0) >= 0)
                    break;
                if (Errno.Last != Errno.EINTR)
                    throw Errno.LastException(RequestName(request.Type), what);
            }
            bool dump = (request.Flags & Nl.F_DUMP) == Nl.F_DUMP;
            var replies = new List<NetlinkMessage>();
            while (true)
            {
                int n = ReceiveRaw(what, request.Type);
                var span = _receive.AsSpan(0, n);
                while (span.Length >= Nl.HeaderLength)
                {
                    int length = (int)MemoryMarshal.Read<uint>(span);
                    if (length < Nl.HeaderLength || length > span.Length)
                        break;
                    ushort type = MemoryMarshal.Read<ushort>(span[4..]);
                    ushort flags = MemoryMarshal.Read<ushort>(span[6..]);
                    uint seq = MemoryMarshal.Read<uint>(span[8..]);
                    var payload = span[Nl.HeaderLength..length];
                    span = span[Math.Min(NetlinkMessageBuilder.Align(length), span.Length)..];
                    if (seq != sequence)
                        continue; // a late answer to an earlier, abandoned request
                    if (type == Nl.NLMSG_DONE)
                    {
                        int status = payload.Length >= 4 ? MemoryMarshal.Read<int>(payload) : 0;
                        if (status < 0)
                            throw Errno.Exception(-status, RequestName(request.Type), what);
                        return replies;
                    }
                    if (type == Nl.NLMSG_ERROR)
                    {
                        int error = payload.Length >= 4 ? MemoryMarshal.Read<int>(payload) : -Errno.EIO;
                        if (error == 0)
                            return replies;
                        throw Errno.Exception(-error, RequestName(request.Type), what, ExtendedAckMessage(flags, payload));
                    }
                    replies.Add(new NetlinkMessage(type, flags, payload.ToArray()));
                    if (!dump && (flags & Nl.F_MULTI) == 0 && (request.Flags & Nl.F_ACK) == 0)
                        return replies;
                }
            }
        }
    }

    /// <summary>Reads whatever notifications are queued into <paramref name="into"/> (monitor sockets; non-blocking).</summary>
    /// <returns>False when nothing was queued (EAGAIN).</returns>
    /// <exception cref="PlatformException">ENOBUFS: the kernel dropped notifications because we were slow.</exception>
    public bool TryReceiveNotifications(List<NetlinkMessage> into)
    {
        int n;
        while (true)
        {
            n = (int)Libc.Recv(_fd, _receive, Libc.MSG_DONTWAIT);
            if (n >= 0)
                break;
            int errno = Errno.Last;
            if (errno == Errno.EINTR)
                continue;
            if (errno == Errno.EAGAIN)
                return false;
            throw Errno.Exception(errno, "recv", "rtnetlink monitor");
        }
        var span = _receive.AsSpan(0, n);
        while (span.Length >= Nl.HeaderLength)
        {
            int length = (int)MemoryMarshal.Read<uint>(span);
            if (length < Nl.HeaderLength || length > span.Length)
                break;
            into.Add(new NetlinkMessage(MemoryMarshal.Read<ushort>(span[4..]), MemoryMarshal.Read<ushort>(span[6..]), span[Nl.HeaderLength..length].ToArray()));
            span = span[Math.Min(NetlinkMessageBuilder.Align(length), span.Length)..];
        }
        return true;
    }

    public void Dispose() => _fd.Dispose();

    private int ReceiveRaw(string what, ushort requestType)
    {
        while (true)
        {
            nint n = Libc.Recv(_fd, _receive, Libc.MSG_TRUNC);
            if (n > _receive.Length)
                throw new InvalidOperationException($"{what}: netlink reply of {n} bytes exceeds the {_receive.Length}-byte buffer");
            if (n >= 0)
                return (int)n;
            if (Errno.Last != Errno.EINTR)
                throw Errno.LastException("recv " + RequestName(requestType), what);
        }
    }

    /// <summary>The NLMSGERR_ATTR_MSG string of an extended ACK, if the kernel sent one.</summary>
    private static string? ExtendedAckMessage(ushort flags, ReadOnlySpan<byte> payload)
    {
        if ((flags & Nl.F_ACK_TLVS) == 0 || payload.Length < 4 + Nl.HeaderLength)
            return null;
        int echoed = (flags & Nl.F_CAPPED) != 0
            ? Nl.HeaderLength
            : (int)MemoryMarshal.Read<uint>(payload[4..]);
        int offset = 4 + NetlinkMessageBuilder.Align(echoed);
        if (offset > payload.Length)
            return null;
        foreach (var attribute in new NetlinkAttributes(payload[offset..]))
            if (attribute.Type == Nl.NLMSGERR_ATTR_MSG)
                return attribute.String;
        return null;
    }

    private static string RequestName(ushort type) => type switch
    {
        Nl.RTM_NEWLINK => "RTM_NEWLINK",
        Nl.RTM_DELLINK => "RTM_DELLINK",
        Nl.RTM_GETLINK => "RTM_GETLINK",
        Nl.RTM_NEWADDR => "RTM_NEWADDR",
        Nl.RTM_DELADDR => "RTM_DELADDR",
        Nl.RTM_GETADDR => "RTM_GETADDR",
        Nl.RTM_NEWROUTE => "RTM_NEWROUTE",
        Nl.RTM_DELROUTE => "RTM_DELROUTE",
        Nl.RTM_GETROUTE => "RTM_GETROUTE",
        Nl.RTM_NEWNEIGH => "RTM_NEWNEIGH",
        Nl.RTM_DELNEIGH => "RTM_DELNEIGH",
        Nl.RTM_GETNEIGH => "RTM_GETNEIGH",
        _ => $"netlink type {type}",
    };
}
