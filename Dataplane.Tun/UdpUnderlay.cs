using Dataplane.Devices;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Packets;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// One AF_INET SOCK_DGRAM socket bound to the underlay address, used through raw syscalls (sendto,
/// recvfrom, sendmsg) instead of System.Net.Sockets: no IPEndPoint, no allocation, and a per-packet TOS
/// through a control message. One syscall per datagram.
/// </summary>
/// <remarks>
/// <para>Outer headers (see <see cref="UdpUnderlayOptions"/>): source = the bound address and port,
/// TTL = IP_TTL or ip_default_ttl (64), TOS = IP_TOS or the per-packet value, DF per
/// <see cref="DontFragmentPolicy"/>, UDP checksum computed by the kernel (or offloaded to the NIC).</para>
/// <para>IP_RECVERR is deliberately left off: on an unconnected socket without it the kernel reports no
/// ICMP errors at all, so a peer's "port unreachable" cannot surface as ECONNREFUSED on a later
/// unrelated send or receive and stall the pump. (Turning it on would need a MSG_ERRQUEUE drain.)</para>
/// <para>Threading: one receiving and one sending thread may share the socket. <see cref="Dispose"/> from
/// any thread wakes a blocked receive. Buffers are borrowed, never kept.</para>
/// </remarks>
public sealed class UdpUnderlay : IUnderlay, IDisposable
{
    private readonly SafeFdHandle _fd;
    private readonly FdCanceller _canceller = new();
    private readonly DropCounters? _drops;
    private long _sendErrors;
    private long _receiveErrors;
    private long _truncated;

    private UdpUnderlay(SafeFdHandle fd, UnderlayEndpoint local, DropCounters? drops)
    {
        _fd = fd;
        LocalEndpoint = local;
        _drops = drops;
    }

    /// <summary>
    /// Creates the socket in the calling thread's network namespace, applies the options and binds.
    /// </summary>
    /// <exception cref="PlatformException">
    /// The port is in use (EADDRINUSE, message names the address), the address is not on any interface
    /// (EADDRNOTAVAIL), or an option was refused.
    /// </exception>
    public static UdpUnderlay Open(UdpUnderlayOptions options, DropCounters? drops = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var local = options.LocalEndpoint;
        var fd = UdpSocket.Create($"UDP socket for {local}");
        try
        {
            Configure(fd, options);
            var address = SockAddrIn.From(local);
            if (Libc.Bind(fd, address) < 0)
            {
                int errno = Errno.Last;
                throw Errno.Exception(errno, "bind", $"bind UDP {local}", errno switch
                {
                    Errno.EADDRINUSE => $"UDP port {local.Port} on {local.Address} is already in use (another flanneld or dataplane on this node?)",
                    Errno.EADDRNOTAVAIL => $"{local.Address} is not an address of any interface in this network namespace",
                    Errno.EACCES => "needs root for ports below 1024",
                    _ => null,
                });
            }
            return new UdpUnderlay(fd, UdpSocket.LocalEndpoint(fd, $"UDP {local}"), drops);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The bound address and port (the actual port when 0 was asked for).</summary>
    public UnderlayEndpoint LocalEndpoint { get; }

    /// <summary>The socket (tests and diagnostics).</summary>
    internal SafeFdHandle Handle => _fd;

    /// <summary>Datagrams per batch call: 1 (sendto/recvfrom). Fixed for the object's lifetime.</summary>
    public int BatchSize => 1;

    /// <summary>Sends the kernel refused (counted drops).</summary>
    public long SendErrors => Interlocked.Read(ref _sendErrors);

    /// <summary>Receive errors other than EAGAIN/EINTR.</summary>
    public long ReceiveErrors => Interlocked.Read(ref _receiveErrors);

    /// <summary>Datagrams discarded because they were larger than the receive buffer.</summary>
    public long TruncatedDatagrams => Interlocked.Read(ref _truncated);

    /// <summary>Effective SO_RCVBUF (the kernel's doubled value).</summary>
    public int ReceiveBufferSize => GetInt(Libc.SOL_SOCKET, Libc.SO_RCVBUF, "SO_RCVBUF");

    /// <summary>Effective SO_SNDBUF (the kernel's doubled value).</summary>
    public int SendBufferSize => GetInt(Libc.SOL_SOCKET, Libc.SO_SNDBUF, "SO_SNDBUF");

    /// <summary>
    /// Sends <paramref name="packet"/>'s <see cref="PacketBuffer.Data"/> as one datagram to
    /// <see cref="PacketBuffer.Peer"/> with one sendto(2). Borrows the buffer. If the socket's send buffer
    /// is full it waits for room (backpressure) unless disposed.
    /// </summary>
    public IoResult Send(PacketBuffer packet) => SendCore(packet, tos: -1);

    /// <summary>
    /// The pump's send: a plain sendto(2) while <see cref="PacketBuffer.OuterTos"/> is 0 (the socket default; almost all
    /// traffic, since Linux TCP does not initiate ECN by default), and sendmsg(2) with an IP_TOS cmsg only for the
    /// packets whose inner ECN bits the VXLAN encapsulation copies out. Keeps the common path one cheap syscall.
    /// </summary>
    IoResult IUnderlay.Send(PacketBuffer packet) => SendCore(packet, packet.OuterTos == 0 ? -1 : packet.OuterTos);

    /// <summary>
    /// As <see cref="Send(PacketBuffer)"/> with this datagram's outer TOS byte (DSCP + ECN) set to
    /// <paramref name="tos"/> through an IP_TOS control message (one sendmsg(2)). For VXLAN ECN
    /// encapsulation (RFC 6040): copy ECT(0)/ECT(1) from the inner packet, CE becomes ECT(0).
    /// </summary>
    public IoResult Send(PacketBuffer packet, byte tos) => SendCore(packet, tos);

    /// <summary>
    /// Receives one datagram into <paramref name="packet"/>'s <see cref="PacketBuffer.Writable"/> at its
    /// current offset, sets its length and <see cref="PacketBuffer.Peer"/> (the sender), waiting until one
    /// arrives. A datagram larger than the writable space is discarded and reported as
    /// <see cref="IoStatus.Truncated"/> (never passed on cut short). Returns Closed after dispose.
    /// </summary>
    public IoResult Receive(PacketBuffer packet) => ReceiveCore(packet, wait: true);

    /// <summary>As <see cref="Receive(PacketBuffer)"/> but returns <see cref="IoStatus.WouldBlock"/> instead of waiting.</summary>
    public IoResult TryReceive(PacketBuffer packet) => ReceiveCore(packet, wait: false);

    /// <summary>
    /// Batch form (style-anchors <c>IUnderlay</c>): blocks until one datagram is received into
    /// <paramref name="packets"/>[0]; returns 1, or 0 after dispose. Truncated datagrams and receive
    /// errors are counted (<see cref="DropReason.TooBig"/> / <see cref="DropReason.IoError"/>) and skipped.
    /// </summary>
    public int Receive(Span<PacketBuffer> packets)
    {
        if (packets.IsEmpty)
            return 0;
        while (true)
        {
            var result = Receive(packets[0]);
            switch (result.Status)
            {
                case IoStatus.Ok:
                    return 1;
                case IoStatus.Closed:
                    return 0;
                case IoStatus.Truncated:
                    _drops?.Increment(DropReason.TooBig);
                    break;
                default:
                    _drops?.Increment(DropReason.IoError);
                    break;
            }
        }
    }

    /// <summary>Batch form: sends each buffer to its Peer; returns how many were sent, failures are counted drops.</summary>
    public int Send(ReadOnlySpan<PacketBuffer> packets)
    {
        int sent = 0;
        foreach (var packet in packets)
        {
            var result = Send(packet);
            if (result.IsOk)
                sent++;
            else if (result.Status == IoStatus.Error)
                _drops?.Increment(DropReason.IoError);
        }
        return sent;
    }

    /// <summary>Wakes a blocked receive or send (they return Closed) without closing the socket yet.</summary>
    public void Cancel() => _canceller.Cancel();

    /// <summary>Wakes blocked callers and closes the socket.</summary>
    public void Dispose()
    {
        _canceller.Dispose();
        _fd.Dispose();
    }

    private IoResult SendCore(PacketBuffer packet, int tos)
    {
        var destination = SockAddrIn.From(packet.Peer);
        while (true)
        {
            nint n;
            try
            {
                n = tos < 0
                    ? Libc.SendTo(_fd, packet.Data, 0, destination)
                    : Libc.SendToWithTos(_fd, packet.Data, 0, destination, (byte)tos);
            }
            catch (ObjectDisposedException)
            {
                return new IoResult(IoStatus.Closed);
            }
            if (n >= 0)
                return IoResult.Ok;
            int errno = Errno.Last;
            if (errno == Errno.EINTR)
                continue;
            if (errno == Errno.EAGAIN)
            {
                // Send buffer full: wait for room rather than drop (the kernel would queue it on a blocking socket).
                if (_canceller.Wait(_fd, forWrite: true) == WaitResult.Cancelled)
                    return new IoResult(IoStatus.Closed);
                continue;
            }
            // ENETUNREACH/EHOSTUNREACH (no route), EMSGSIZE (DF set and too big), EPERM (netfilter): per-packet drops.
            Interlocked.Increment(ref _sendErrors);
            return new IoResult(IoStatus.Error, errno);
        }
    }

    private IoResult ReceiveCore(PacketBuffer packet, bool wait)
    {
        var buffer = packet.Writable;
        while (true)
        {
            if (_canceller.IsCancelled)
                return new IoResult(IoStatus.Closed);
            nint n;
            SockAddrIn source;
            try
            {
                // MSG_TRUNC makes udp_recvmsg return the datagram's full length even when it did not fit.
                n = Libc.RecvFrom(_fd, buffer, Libc.MSG_TRUNC, out source);
            }
            catch (ObjectDisposedException)
            {
                return new IoResult(IoStatus.Closed);
            }
            if (n >= 0)
            {
                if (n > buffer.Length)
                {
                    Interlocked.Increment(ref _truncated);
                    return new IoResult(IoStatus.Truncated, (int)Math.Min(n, int.MaxValue));
                }
                packet.SetLength((int)n);
                packet.Peer = source.ToEndpoint();
                return IoResult.Ok;
            }
            int errno = Errno.Last;
            if (errno == Errno.EINTR)
                continue;
            if (errno != Errno.EAGAIN)
            {
                Interlocked.Increment(ref _receiveErrors);
                return new IoResult(IoStatus.Error, errno);
            }
            if (!wait)
                return new IoResult(IoStatus.WouldBlock);
            if (_canceller.Wait(_fd, forWrite: false) == WaitResult.Cancelled)
                return new IoResult(IoStatus.Closed);
        }
    }

    private static void Configure(SafeFdHandle fd, UdpUnderlayOptions o)
    {
        switch (o.DontFragment)
        {
            case DontFragmentPolicy.Clear:
                Set(fd, Libc.IPPROTO_IP, Libc.IP_MTU_DISCOVER, Libc.IP_PMTUDISC_DONT, "IP_MTU_DISCOVER=IP_PMTUDISC_DONT");
                break;
            case DontFragmentPolicy.Set:
                Set(fd, Libc.IPPROTO_IP, Libc.IP_MTU_DISCOVER, Libc.IP_PMTUDISC_DO, "IP_MTU_DISCOVER=IP_PMTUDISC_DO");
                break;
        }
        if (o.TimeToLive is int ttl)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(ttl, 1, nameof(o.TimeToLive));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(ttl, 255, nameof(o.TimeToLive));
            Set(fd, Libc.IPPROTO_IP, Libc.IP_TTL, ttl, "IP_TTL");
        }
        if (o.TypeOfService is byte tos)
            Set(fd, Libc.IPPROTO_IP, Libc.IP_TOS, tos, "IP_TOS");
        if (o.ReceiveBufferSize is int rcv)
            SetBuffer(fd, receive: true, rcv, "SO_RCVBUF");
        if (o.SendBufferSize is int snd)
            SetBuffer(fd, receive: false, snd, "SO_SNDBUF");
        if (o.UnsafeZeroChecksum)
            Set(fd, Libc.SOL_SOCKET, Libc.SO_NO_CHECK, 1, "SO_NO_CHECK");
    }

    private static void SetBuffer(SafeFdHandle fd, bool receive, int bytes, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes, name);
        if (!UdpSocket.TrySetBuffer(fd, receive, bytes))
            throw Errno.LastException("setsockopt", $"set {name} to {bytes} on UDP socket");
    }

    private static void Set(SafeFdHandle fd, int level, int name, int value, string what)
    {
        if (Libc.SetSockOpt(fd, level, name, value) < 0)
            throw Errno.LastException("setsockopt", $"set {what} to {value} on UDP socket");
    }

    private int GetInt(int level, int name, string what)
    {
        if (Libc.GetSockOpt(_fd, level, name, out int value) < 0)
            throw Errno.LastException("getsockopt", what);
        return value;
    }
}
