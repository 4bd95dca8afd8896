using Dataplane.Packets;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// The steps every AF_INET UDP socket here shares (<see cref="UdpUnderlay"/>, <see cref="UdpBlaster"/>,
/// <see cref="UdpSink"/>): create it non-blocking and close-on-exec, size its buffers, read back the bound address.
/// </summary>
internal static class UdpSocket
{
    /// <summary>A new non-blocking UDP socket in the calling thread's network namespace; <paramref name="what"/> names it in errors.</summary>
    public static SafeFdHandle Create(string what)
    {
        int raw = Libc.Socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (raw < 0)
            throw Errno.LastException("socket(AF_INET, SOCK_DGRAM)", what);
        return new SafeFdHandle(raw);
    }

    /// <summary>
    /// Sets SO_RCVBUF or SO_SNDBUF through its FORCE variant (CAP_NET_ADMIN ignores net.core.[rw]mem_max), falling back
    /// to the capped option. Returns false when both are refused.
    /// </summary>
    public static bool TrySetBuffer(SafeFdHandle fd, bool receive, int bytes) =>
        Libc.SetSockOpt(fd, Libc.SOL_SOCKET, receive ? Libc.SO_RCVBUFFORCE : Libc.SO_SNDBUFFORCE, bytes) == 0
        || Libc.SetSockOpt(fd, Libc.SOL_SOCKET, receive ? Libc.SO_RCVBUF : Libc.SO_SNDBUF, bytes) == 0;

    /// <summary>The socket's local address (the actual port when 0 was bound, or the one connect chose).</summary>
    public static UnderlayEndpoint LocalEndpoint(SafeFdHandle fd, string what)
    {
        if (Libc.GetSockName(fd, out var bound) < 0)
            throw Errno.LastException("getsockname", what);
        return bound.ToEndpoint();
    }
}
