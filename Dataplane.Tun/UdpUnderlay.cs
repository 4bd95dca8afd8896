using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dataplane.Devices;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// One AF_INET SOCK_DGRAM socket bound to the underlay address, used through raw syscalls instead of
/// System.Net.Sockets (which has no sendmmsg, recvmmsg or UDP GSO: performance.md §4): no IPEndPoint, no allocation, a
/// per-message TOS through a control message, batches of messages in one sendmmsg(2) / recvmmsg(2), and GSO trains
/// (UDP_SEGMENT) that leave as ordinary datagrams on the wire.
/// </summary>
/// <remarks>
/// <para>Outer headers (see <see cref="UdpUnderlayOptions"/>): source = the bound address and port,
/// TTL = IP_TTL or ip_default_ttl (64), TOS = IP_TOS or the per-packet value, DF per
/// <see cref="DontFragmentPolicy"/>, UDP checksum computed by the kernel (or offloaded to the NIC).</para>
/// <para>IP_RECVERR is deliberately left off: on an unconnected socket without it the kernel reports no
/// ICMP errors at all, so a peer's "port unreachable" cannot surface as ECONNREFUSED on a later
/// unrelated send or receive and stall the pump. (Turning it on would need a MSG_ERRQUEUE drain.)</para>
/// <para>Batch size 1 keeps flannel's shape: one sendto(2) per datagram (sendmsg with an IP_TOS cmsg when the TOS is
/// not 0), one recvfrom(2) per datagram.</para>
/// <para>Threading: one receiving thread and any number of sending threads may share the socket (sends are serialised
/// by a lock taken once per batch: the inbound pump answers ARP probes on it while the outbound pump sends).
/// <see cref="Dispose"/> from any thread wakes a blocked receive. Buffers and batches are borrowed, never kept; the
/// message vectors, iovecs and control messages live in native memory allocated once.</para>
/// </remarks>
public sealed unsafe class UdpUnderlay : IUnderlay, IDisposable
{
    private readonly SafeFdHandle _fd;
    private readonly FdCanceller _canceller = new();
    // Messages per sendmmsg(2) and iovecs in all: a full DatagramBatch (64 messages, 2048 fragments) in one call.
    private const int SendVector = 64;
    private const int SendIovecs = 2048;
    // Per message: CMSG_SPACE(sizeof(u16)) for UDP_SEGMENT + CMSG_SPACE(sizeof(int)) for IP_TOS, 24 bytes each.
    private const int CmsgSpace = 24;
    private const int CmsgHeader = 16;

    private readonly Lock _sendLock = new();
    private readonly MMsgHdr* _sendMessages;
    private readonly IOVector* _sendIov;
    private readonly SockAddrIn* _sendNames;
    private readonly byte* _sendControl;
    private readonly MMsgHdr* _receiveMessages;
    private readonly IOVector* _receiveIov;
    private readonly SockAddrIn* _receiveNames;
    private readonly byte* _receiveControl;
    private volatile bool _gso;
    private long _gsoFallbacks;
    private long _sendErrors;
    private long _receiveErrors;
    private long _truncated;

    private UdpUnderlay(SafeFdHandle fd, UnderlayEndpoint local, int batchSize, bool gso, bool gro)
    {
        _fd = fd;
        LocalEndpoint = local;
        BatchSize = Math.Max(1, batchSize);
        _gso = gso;
        ReceiveOffload = gro;
        _sendMessages = (MMsgHdr*)NativeMemory.AllocZeroed(SendVector, (nuint)sizeof(MMsgHdr));
        _sendIov = (IOVector*)NativeMemory.AllocZeroed(SendIovecs, (nuint)sizeof(IOVector));
        _sendNames = (SockAddrIn*)NativeMemory.AllocZeroed(SendVector, (nuint)sizeof(SockAddrIn));
        _sendControl = (byte*)NativeMemory.AllocZeroed(SendVector, 2 * CmsgSpace);
        _receiveMessages = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)BatchSize, (nuint)sizeof(MMsgHdr));
        _receiveIov = (IOVector*)NativeMemory.AllocZeroed((nuint)BatchSize, (nuint)sizeof(IOVector));
        _receiveNames = (SockAddrIn*)NativeMemory.AllocZeroed((nuint)BatchSize, (nuint)sizeof(SockAddrIn));
        _receiveControl = (byte*)NativeMemory.AllocZeroed((nuint)BatchSize, CmsgSpace);
    }

    /// <summary>
    /// Creates the socket in the calling thread's network namespace, applies the options and binds.
    /// </summary>
    /// <exception cref="PlatformException">
    /// The port is in use (EADDRINUSE, message names the address), the address is not on any interface
    /// (EADDRNOTAVAIL), or an option was refused.
    /// </exception>
    public static UdpUnderlay Open(UdpUnderlayOptions options)
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
            // Probe UDP_SEGMENT (getsockopt answers since 4.18; performance.md §1.2, wireguard-go's supportsUDPOffload).
            bool gso = options.SegmentationOffload && Libc.GetSockOpt(fd, Libc.SOL_UDP, Libc.UDP_SEGMENT, out _) == 0;
            // GRO only with batch receives: the per-packet path reads with recvfrom and has no control messages.
            bool gro = options.ReceiveOffload && options.BatchSize > 1 && Libc.SetSockOpt(fd, Libc.SOL_UDP, Libc.UDP_GRO, 1) == 0;
            return new UdpUnderlay(fd, UdpSocket.LocalEndpoint(fd, $"UDP {local}"), options.BatchSize, gso, gro);
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

    /// <inheritdoc/>
    public int BatchSize { get; }

    /// <inheritdoc/>
    public bool SegmentationOffload => _gso;

    /// <inheritdoc/>
    public long GsoFallbacks => Interlocked.Read(ref _gsoFallbacks);

    /// <inheritdoc/>
    public bool ReceiveOffload { get; }

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

    /// <inheritdoc/>
    public IoResult Send(DatagramBatch batch)
    {
        var messages = batch.Messages;
        if (messages.Length == 1 && messages[0].FragmentCount == 1)
        {
            // The per-packet shape (and the ARP reply): one sendto(2), or one sendmsg(2) with an IP_TOS cmsg.
            ref var m = ref messages[0];
            var f = batch.Fragments[m.FirstFragment];
            var result = SendOne(f.Array.AsSpan(f.Offset, f.Length), m.Peer, m.Tos == 0 ? -1 : m.Tos);
            m.Verdict = result.Status == IoStatus.Error ? DropReason.IoError : DropReason.None;
            m.Errno = result.Errno;
            return result.Status == IoStatus.Closed ? result : IoResult.Ok;
        }
        lock (_sendLock)
        {
            int next = 0;
            while (next < messages.Length)
            {
                int built = BuildVector(batch, messages, next);
                var status = SendVectorCall(built, out int sent, out int errno);
                if (status == IoStatus.Closed)
                    return new IoResult(IoStatus.Closed);
                for (int i = 0; i < sent; i++)
                    messages[next + i].Verdict = DropReason.None;
                next += sent;
                if (status == IoStatus.Ok)
                    continue;
                // messages[next] failed on its own (sendmmsg reports the first failure when nothing before it went).
                ref var failed = ref messages[next];
                if (errno is Errno.EIO or Errno.EINVAL && failed.Datagrams > 1 && _gso)
                {
                    // The kernel refuses GSO on this socket or route (udp_send_skb): EIO for xfrm on the route (and,
                    // before Linux 6.x, for a device without checksum offload: "segmentation offload depends on
                    // checksum offload", udp(7)), EINVAL with UDP checksums off (SO_NO_CHECK). It will refuse every
                    // train the same way: turn GSO off for this socket for good and send this one datagram by
                    // datagram; the pump builds single datagrams from now on.
                    _gso = false;
                    Interlocked.Increment(ref _gsoFallbacks);
                }
                if (failed.Datagrams > 1 && !_gso)
                {
                    if (SendDatagramByDatagram(batch, ref failed) == IoStatus.Closed)
                        return new IoResult(IoStatus.Closed);
                }
                else
                {
                    failed.Verdict = DropReason.IoError;
                    failed.Errno = errno;
                    Interlocked.Increment(ref _sendErrors);
                }
                next++;
            }
        }
        return IoResult.Ok;
    }

    /// <inheritdoc/>
    public IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count)
    {
        count = 0;
        if (packets.IsEmpty)
            return IoResult.Ok;
        if (BatchSize == 1 || packets.Length == 1)
        {
            var result = ReceiveOne(packets[0], wait);
            if (result.Status == IoStatus.Truncated)
            {
                packets[0].Verdict = DropReason.TooBig;
                result = IoResult.Ok;
            }
            count = result.IsOk ? 1 : 0;
            return result;
        }
        int limit = Math.Min(packets.Length, BatchSize);
        for (int i = 0; i < limit; i++)
        {
            var writable = packets[i].Writable;
            _receiveIov[i] = new IOVector { Base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(writable)), Count = (nuint)writable.Length };
            ref var h = ref _receiveMessages[i].Header;
            h.Name = &_receiveNames[i];
            h.NameLength = (uint)sizeof(SockAddrIn);
            h.Iov = &_receiveIov[i];
            h.IovLength = 1;
            h.Control = ReceiveOffload ? _receiveControl + i * CmsgSpace : null;
            h.ControlLength = ReceiveOffload ? (nuint)CmsgSpace : 0;
            h.Flags = 0;
        }
        while (true)
        {
            if (_canceller.IsCancelled)
                return new IoResult(IoStatus.Closed);
            int n;
            try
            {
                n = Libc.RecvMmsg(_fd, _receiveMessages, (uint)limit, 0);
            }
            catch (ObjectDisposedException)
            {
                return new IoResult(IoStatus.Closed);
            }
            if (n > 0)
            {
                for (int i = 0; i < n; i++)
                {
                    var packet = packets[i];
                    ref var m = ref _receiveMessages[i];
                    if ((m.Header.Flags & Libc.MSG_TRUNC) != 0)
                    {
                        // Larger than the buffer: discarded, never passed on cut short.
                        Interlocked.Increment(ref _truncated);
                        packet.Verdict = DropReason.TooBig;
                        continue;
                    }
                    packet.SetLength((int)m.Length);
                    packet.Peer = _receiveNames[i].ToEndpoint();
                    if (ReceiveOffload && m.Header.ControlLength >= CmsgHeader + sizeof(int))
                    {
                        // udp_cmsg_recv: SOL_UDP/UDP_GRO with the segment size (an int) when the kernel coalesced.
                        byte* c = (byte*)m.Header.Control;
                        int gsoSize = *(int*)(c + CmsgHeader);
                        if (*(int*)(c + 8) == Libc.SOL_UDP && *(int*)(c + 12) == Libc.UDP_GRO && gsoSize > 0 && gsoSize < packet.Length)
                            packet.Offload = new VirtioNetHeader(0, GsoType.UdpL4, 0, (ushort)gsoSize, 0, 0);
                    }
                }
                count = n;
                return IoResult.Ok;
            }
            if (AfterEmptyReceive(wait) is { } done)
                return done;
        }
    }

    /// <summary>
    /// What a receive that got nothing means (errno of the call just made): null to try again (EINTR, or woken by data
    /// after waiting), WouldBlock when not waiting, Closed when cancelled while waiting, Error otherwise (counted).
    /// </summary>
    private IoResult? AfterEmptyReceive(bool wait)
    {
        int errno = Errno.Last;
        if (errno == Errno.EINTR)
            return null;
        if (errno != Errno.EAGAIN)
        {
            Interlocked.Increment(ref _receiveErrors);
            return new IoResult(IoStatus.Error, errno);
        }
        if (!wait)
            return new IoResult(IoStatus.WouldBlock);
        return _canceller.Wait(_fd, forWrite: false) == WaitResult.Cancelled ? new IoResult(IoStatus.Closed) : null;
    }

    /// <summary>
    /// Fills the send vector with messages from <paramref name="first"/> on, as many as fit; returns how many.
    /// A train of more than one datagram gets a UDP_SEGMENT cmsg while GSO is on; one that was built for GSO after it
    /// turned off is left for <see cref="SendDatagramByDatagram"/> (the vector stops before it).
    /// </summary>
    private int BuildVector(DatagramBatch batch, Span<DatagramBatch.Message> messages, int first)
    {
        var fragments = batch.Fragments;
        int iov = 0, built = 0;
        bool gso = _gso;
        for (int i = first; i < messages.Length && built < SendVector; i++)
        {
            ref var m = ref messages[i];
            // A train built while GSO was on cannot go as one message any more: stop before it; the caller's failure
            // path sends it datagram by datagram.
            if (iov + m.FragmentCount > SendIovecs || (m.Datagrams > 1 && !gso))
                break;
            for (int f = 0; f < m.FragmentCount; f++)
                _sendIov[iov + f] = ToIovec(fragments[m.FirstFragment + f]);
            SetMessage(built, m.Peer, iov, m.FragmentCount, m.Tos, m.Datagrams > 1 ? m.SegmentSize : 0);
            iov += m.FragmentCount;
            built++;
        }
        return built;
    }

    private IoStatus SendDatagramByDatagram(DatagramBatch batch, ref DatagramBatch.Message m)
    {
        var fragments = batch.Fragments;
        int per = m.FragmentsPerDatagram;
        int done = 0;
        m.Verdict = DropReason.None;
        while (done < m.Datagrams)
        {
            int count = Math.Min(m.Datagrams - done, SendVector);
            for (int d = 0; d < count; d++)
            {
                int firstIov = d * per;
                for (int f = 0; f < per; f++)
                    _sendIov[firstIov + f] = ToIovec(fragments[m.FirstFragment + (done + d) * per + f]);
                SetMessage(d, m.Peer, firstIov, per, m.Tos, 0);
            }
            int offset = 0;
            while (offset < count)
            {
                var status = SendVectorCall(count - offset, out int sent, out int errno, offset);
                if (status == IoStatus.Closed)
                    return status;
                offset += sent;
                if (status != IoStatus.Ok)
                {
                    // One datagram of the train failed: the message is reported failed, the rest still go.
                    m.Verdict = DropReason.IoError;
                    m.Errno = errno;
                    Interlocked.Increment(ref _sendErrors);
                    offset++;
                }
            }
            done += count;
        }
        return IoStatus.Ok;
    }

    /// <summary>
    /// One sendmmsg(2) of <paramref name="count"/> built messages from index <paramref name="offset"/>, retried on
    /// EINTR and waited on when the send buffer is full. Ok: all sent; Error: <paramref name="sent"/> went and the next
    /// failed with <paramref name="errno"/>; Closed: cancelled.
    /// </summary>
    private IoStatus SendVectorCall(int count, out int sent, out int errno, int offset = 0)
    {
        sent = 0;
        errno = 0;
        if (count == 0)
        {
            errno = Errno.EIO;
            return IoStatus.Error; // BuildVector stopped at a train that needs splitting
        }
        while (sent < count)
        {
            int n;
            try
            {
                n = Libc.SendMmsg(_fd, _sendMessages + offset + sent, (uint)(count - sent), 0);
            }
            catch (ObjectDisposedException)
            {
                return IoStatus.Closed;
            }
            if (n > 0)
            {
                sent += n;
                continue;
            }
            errno = Errno.Last;
            if (errno == Errno.EINTR)
                continue;
            if (errno == Errno.EAGAIN)
            {
                // Send buffer full: wait for room rather than drop (backpressure, as a blocking socket would).
                if (_canceller.Wait(_fd, forWrite: true) == WaitResult.Cancelled)
                    return IoStatus.Closed;
                continue;
            }
            return IoStatus.Error;
        }
        return IoStatus.Ok;
    }

    private void SetMessage(int index, UnderlayEndpoint peer, int firstIov, int iovCount, byte tos, int segmentSize)
    {
        _sendNames[index] = SockAddrIn.From(peer);
        ref var h = ref _sendMessages[index].Header;
        h.Name = &_sendNames[index];
        h.NameLength = (uint)sizeof(SockAddrIn);
        h.Iov = &_sendIov[firstIov];
        h.IovLength = (nuint)iovCount;
        h.Flags = 0;
        byte* control = _sendControl + index * 2 * CmsgSpace;
        int length = 0;
        if (segmentSize > 0)
        {
            WriteCmsgHeader(control, CmsgHeader + sizeof(ushort), Libc.SOL_UDP, Libc.UDP_SEGMENT);
            *(ushort*)(control + CmsgHeader) = (ushort)segmentSize;
            length += CmsgSpace;
        }
        if (tos != 0)
        {
            WriteCmsgHeader(control + length, CmsgHeader + sizeof(int), Libc.IPPROTO_IP, Libc.IP_TOS);
            *(int*)(control + length + CmsgHeader) = tos;
            length += CmsgSpace;
        }
        h.Control = length == 0 ? null : control;
        h.ControlLength = (nuint)length;
    }

    private static void WriteCmsgHeader(byte* at, int length, int level, int type)
    {
        *(nuint*)at = (nuint)length;
        *(int*)(at + 8) = level;
        *(int*)(at + 12) = type;
    }

    // PacketBuffer slabs and the pumps' header arenas are pinned (POH): their addresses are stable without `fixed`.
    private static IOVector ToIovec(in DatagramBatch.Fragment f) => new()
    {
        Base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(f.Array)) + f.Offset,
        Count = (nuint)f.Length,
    };

    /// <summary>Wakes a blocked receive or send (they return Closed) without closing the socket yet.</summary>
    public void Cancel() => _canceller.Cancel();

    /// <summary>Wakes blocked callers and closes the socket. Only after the pump threads have returned.</summary>
    public void Dispose()
    {
        if (_fd.IsClosed)
            return;
        _canceller.Dispose();
        _fd.Dispose();
        NativeMemory.Free(_sendMessages);
        NativeMemory.Free(_sendIov);
        NativeMemory.Free(_sendNames);
        NativeMemory.Free(_sendControl);
        NativeMemory.Free(_receiveMessages);
        NativeMemory.Free(_receiveIov);
        NativeMemory.Free(_receiveNames);
        NativeMemory.Free(_receiveControl);
    }

    private IoResult SendOne(ReadOnlySpan<byte> datagram, UnderlayEndpoint peer, int tos)
    {
        var destination = SockAddrIn.From(peer);
        while (true)
        {
            nint n;
            try
            {
                n = tos < 0
                    ? Libc.SendTo(_fd, datagram, 0, destination)
                    : Libc.SendToWithTos(_fd, datagram, 0, destination, (byte)tos);
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

    private IoResult ReceiveOne(PacketBuffer packet, bool wait)
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
            if (AfterEmptyReceive(wait) is { } done)
                return done;
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
