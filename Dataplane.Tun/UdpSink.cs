using System.Diagnostics;
using System.Runtime.InteropServices;
using Dataplane.Packets;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// The receiving end of <see cref="UdpBlaster"/>: a bound UDP socket that reads and discards datagrams with
/// recvmmsg(2), up to <see cref="BatchSize"/> per call. A benchmark needs a reader: without a bound socket datagrams
/// count as Udp NoPorts, and Udp InDatagrams (/proc/net/snmp) only grows as an application reads them
/// (udp_recvmsg counts it), so the sink must keep up for "delivered" to mean delivered.
/// </summary>
/// <remarks>
/// Buffers (<see cref="BatchSize"/> slots of <see cref="SlotBytes"/>) are native memory allocated once; a batch
/// allocates nothing. A larger datagram is cut to the slot but still counted with its full length (MSG_TRUNC).
/// Threading: one thread drains; <see cref="Cancel"/> from any thread; dispose after the draining thread returned.
/// </remarks>
public sealed unsafe class UdpSink : IDisposable
{
    /// <summary>Datagrams per recvmmsg(2) call.</summary>
    public const int BatchSize = 64;

    /// <summary>Bytes per receive slot.</summary>
    public const int SlotBytes = 2048;

    private const int ReceiveBufferBytes = 8 << 20;

    private readonly SafeFdHandle _fd;
    private readonly FdCanceller _canceller = new();
    private readonly byte* _slots;
    private readonly IOVector* _iov;
    private readonly MMsgHdr* _messages;

    private UdpSink(SafeFdHandle fd, UnderlayEndpoint local)
    {
        _fd = fd;
        LocalEndpoint = local;
        _slots = (byte*)NativeMemory.Alloc((nuint)BatchSize * SlotBytes);
        _iov = (IOVector*)NativeMemory.AllocZeroed(BatchSize, (nuint)sizeof(IOVector));
        _messages = (MMsgHdr*)NativeMemory.AllocZeroed(BatchSize, (nuint)sizeof(MMsgHdr));
        for (int i = 0; i < BatchSize; i++)
        {
            _iov[i] = new IOVector { Base = _slots + (nint)i * SlotBytes, Count = SlotBytes };
            _messages[i].Header.Iov = &_iov[i];
            _messages[i].Header.IovLength = 1;
        }
    }

    /// <summary>Opens a UDP socket in the calling thread's network namespace, bound to <paramref name="local"/>.</summary>
    /// <exception cref="PlatformException">socket or bind failed (EADDRINUSE: the port is taken).</exception>
    public static UdpSink Open(UnderlayEndpoint local)
    {
        var fd = UdpSocket.Create($"UDP sink on {local}");
        try
        {
            // Best effort: a deep receive queue absorbs bursts while the reader is descheduled.
            UdpSocket.TrySetBuffer(fd, receive: true, ReceiveBufferBytes);
            if (Libc.Bind(fd, SockAddrIn.From(local)) < 0)
                throw Errno.LastException("bind", $"UDP sink on {local}");
            return new UdpSink(fd, UdpSocket.LocalEndpoint(fd, $"UDP sink on {local}"));
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The bound address and port (the actual port when 0 was asked for).</summary>
    public UnderlayEndpoint LocalEndpoint { get; }

    /// <summary>
    /// Reads and discards datagrams until <paramref name="duration"/> has passed, <paramref name="maxDatagrams"/> were
    /// read, or <see cref="Cancel"/>. Waits for traffic at most 50 ms at a time, so the deadline holds.
    /// </summary>
    /// <exception cref="PlatformException">recvmmsg failed with an error other than EAGAIN/EINTR.</exception>
    public UdpSinkResult Drain(TimeSpan duration, long maxDatagrams = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long datagrams = 0, bytes = 0;
        long now = start;
        while (now < end && datagrams < maxDatagrams && !_canceller.IsCancelled)
        {
            int n = Libc.RecvMmsg(_fd, _messages, BatchSize, Libc.MSG_TRUNC);
            if (n > 0)
            {
                datagrams += n;
                for (int i = 0; i < n; i++)
                    bytes += _messages[i].Length;
            }
            else
            {
                int errno = Errno.Last;
                if (errno == Errno.EAGAIN)
                {
                    int waitMs = (int)Math.Clamp((end - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency, 0, 50);
                    _canceller.Wait(_fd, forWrite: false, timeoutMs: waitMs);
                }
                else if (errno != Errno.EINTR)
                {
                    throw Errno.Exception(errno, "recvmmsg", $"UDP sink on {LocalEndpoint}");
                }
            }
            now = Stopwatch.GetTimestamp();
        }
        return new UdpSinkResult(datagrams, bytes, Stopwatch.GetElapsedTime(start, now));
    }

    /// <summary>Makes a running <see cref="Drain"/> return. Thread-safe, idempotent.</summary>
    public void Cancel() => _canceller.Cancel();

    /// <summary>Closes the socket and frees the native buffers. Only after the draining thread has returned.</summary>
    public void Dispose()
    {
        if (_fd.IsClosed)
            return;
        _canceller.Dispose();
        _fd.Dispose();
        NativeMemory.Free(_messages);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_slots);
    }
}
