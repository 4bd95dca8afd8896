using Dataplane.Tun.Interop;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// Subscribes to link, IPv4 address and IPv4 route notifications (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
/// RTNLGRP_IPV4_ROUTE) of the network namespace it is created in, so the daemon notices its TUN or
/// Network route being deleted under it and can restore it or exit loudly.
/// </summary>
/// <remarks>
/// One thread reads (<see cref="Read"/>); <see cref="Dispose"/> from any thread wakes it. Overflow of
/// the socket buffer (a burst of changes while we were not reading) is reported as
/// <see cref="NetlinkChangeKind.Overrun"/>, after which the caller must re-check state with queries.
/// </remarks>
public sealed class NetlinkMonitor : IDisposable
{
    private readonly NetlinkSocket _socket =
        new(Nl.RTMGRP_LINK | Nl.RTMGRP_IPV4_IFADDR | Nl.RTMGRP_IPV4_ROUTE, nonBlocking: true);
    private readonly FdCanceller _canceller = new();
    private readonly List<NetlinkMessage> _messages = new();

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> (-1: forever) for notifications and appends them to
    /// <paramref name="changes"/>. Returns false once disposed, true otherwise (possibly with nothing added on timeout).
    /// </summary>
    public bool Read(List<NetlinkChange> changes, int timeoutMs = -1)
    {
        ArgumentNullException.ThrowIfNull(changes);
        _messages.Clear();
        try
        {
            if (!_socket.TryReceiveNotifications(_messages))
            {
                switch (_canceller.Wait(_socket.Handle, forWrite: false, timeoutMs))
                {
                    case WaitResult.Cancelled:
                        return false;
                    case WaitResult.TimedOut:
                        return true;
                }
                _socket.TryReceiveNotifications(_messages);
            }
        }
        catch (PlatformException e) when (e.Errno == Errno.ENOBUFS)
        {
            changes.Add(new NetlinkChange(NetlinkChangeKind.Overrun));
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        foreach (var m in _messages)
        {
            switch (m.Type)
            {
                case Nl.RTM_NEWLINK or Nl.RTM_DELLINK when RtNetlinkParser.Link(m.Payload) is { } link:
                    changes.Add(new NetlinkChange(m.Type == Nl.RTM_NEWLINK ? NetlinkChangeKind.LinkChanged : NetlinkChangeKind.LinkDeleted, Link: link));
                    break;
                case Nl.RTM_NEWROUTE or Nl.RTM_DELROUTE when RtNetlinkParser.Route(m.Payload) is { } route:
                    changes.Add(new NetlinkChange(m.Type == Nl.RTM_NEWROUTE ? NetlinkChangeKind.RouteAdded : NetlinkChangeKind.RouteDeleted, Route: route));
                    break;
                case Nl.RTM_NEWADDR or Nl.RTM_DELADDR when RtNetlinkParser.Address(m.Payload) is { } address:
                    changes.Add(new NetlinkChange(m.Type == Nl.RTM_NEWADDR ? NetlinkChangeKind.AddressAdded : NetlinkChangeKind.AddressDeleted, Address: address));
                    break;
            }
        }
        return true;
    }

    /// <summary>Wakes a blocked <see cref="Read"/> (it returns false) and closes the socket.</summary>
    public void Dispose()
    {
        _canceller.Dispose();
        _socket.Dispose();
    }
}
