using System.Diagnostics;
using System.Runtime.InteropServices;
using Dataplane.Packets;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// A UDP load generator for benchmarks: one connected AF_INET socket that sends the same payload to one destination
/// in batches, up to <see cref="MaxBatchSize"/> messages per sendmmsg(2) call, optionally with UDP GSO
/// (<c>UDP_SEGMENT</c>) so each message is itself up to 64 datagrams. iperf3 makes one send syscall per datagram and
/// tops out near 130–200 kpps on a small VM; this makes one syscall per batch.
/// </summary>
/// <remarks>
/// <para>The socket is created in the calling thread's network namespace (run it under <c>ip netns exec</c> or
/// <see cref="NetworkNamespace.Run{T}"/>) and connected, so it can only ever send to <see cref="Destination"/> and
/// the route is looked up once. The message vector, the iovecs and the payload live in native memory allocated once
/// in <see cref="Open"/>: a batch allocates nothing.</para>
/// <para>With GSO the receiver still sees separate datagrams of the payload size: the kernel segments the super-packet
/// before it reaches a device that cannot carry it, or at the receiving socket (udp_rcv_segment) when the socket has
/// no UDP_GRO.</para>
/// <para>Threading: one thread sends (<see cref="SendBatch"/> / <see cref="Run"/>); <see cref="Cancel"/> may be
/// called from any thread. Dispose after the sending thread has returned.</para>
/// </remarks>
public sealed unsafe class UdpBlaster : IDisposable
{
    /// <summary>Most messages per sendmmsg(2) call.</summary>
    public const int MaxBatchSize = 64;

    /// <summary>Largest UDP payload in one IPv4 datagram: 65535 − 20 (IPv4) − 8 (UDP).</summary>
    public const int MaxPayload = 65507;

    /// <summary>Send buffer asked for (SO_SNDBUFFORCE, else capped by net.core.wmem_max): room for a whole GSO batch.</summary>
    private const int SendBufferBytes = 4 << 20;

    private readonly SafeFdHandle _fd;
    private readonly FdCanceller _canceller = new();
    private readonly byte* _payload;
    private readonly IOVector* _iov;
    private readonly MMsgHdr* _messages;
    private readonly int _batch;
    private long _errors;

    private UdpBlaster(SafeFdHandle fd, UnderlayEndpoint destination, UnderlayEndpoint local, int payloadSize, int batch, int segments)
    {
        _fd = fd;
        Destination = destination;
        LocalEndpoint = local;
        PayloadSize = payloadSize;
        _batch = batch;
        SegmentsPerMessage = segments;
        nuint bytes = (nuint)payloadSize * (nuint)segments;
        // Zero-filled: the payload's content does not matter, only its size; one buffer serves every message.
        _payload = (byte*)NativeMemory.AllocZeroed(Math.Max(bytes, 1));
        _iov = (IOVector*)NativeMemory.AllocZeroed((nuint)batch, (nuint)sizeof(IOVector));
        _messages = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)batch, (nuint)sizeof(MMsgHdr));
        for (int i = 0; i < batch; i++)
        {
            _iov[i] = new IOVector { Base = _payload, Count = bytes };
            // msg_name stays null: the socket is connected.
            _messages[i].Header.Iov = &_iov[i];
            _messages[i].Header.IovLength = 1;
        }
    }

    /// <summary>
    /// Opens a UDP socket in the calling thread's network namespace and connects it to <paramref name="destination"/>.
    /// </summary>
    /// <param name="destination">The only address this blaster sends to.</param>
    /// <param name="payloadSize">UDP payload bytes per datagram, 1..<see cref="MaxPayload"/>.</param>
    /// <param name="batchSize">Messages per sendmmsg call, 1..<see cref="MaxBatchSize"/>.</param>
    /// <param name="segmentOffload">
    /// Use UDP GSO: each message carries as many datagrams as fit (at most 64, at most 64 KiB in all). Fails with a
    /// <see cref="PlatformException"/> where the kernel lacks UDP_SEGMENT (before 4.18).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A size out of range.</exception>
    /// <exception cref="PlatformException">socket, setsockopt or connect failed (e.g. ENETUNREACH: no route).</exception>
    public static UdpBlaster Open(UnderlayEndpoint destination, int payloadSize, int batchSize = MaxBatchSize, bool segmentOffload = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(payloadSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payloadSize, MaxPayload);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(batchSize, MaxBatchSize);
        int segments = segmentOffload ? Math.Min(Libc.UdpMaxSegments, MaxPayload / payloadSize) : 1;
        var fd = UdpSocket.Create($"UDP blaster to {destination}");
        try
        {
            // Best effort: a larger send buffer only smooths bursts; the default works too.
            UdpSocket.TrySetBuffer(fd, receive: false, SendBufferBytes);
            if (segments > 1 && Libc.SetSockOpt(fd, Libc.SOL_UDP, Libc.UDP_SEGMENT, payloadSize) < 0)
                throw Errno.LastException("setsockopt(UDP_SEGMENT)", $"UDP GSO with {payloadSize}-byte segments");
            if (Libc.Connect(fd, SockAddrIn.From(destination)) < 0)
                throw Errno.LastException("connect", $"UDP blaster to {destination}");
            return new UdpBlaster(fd, destination, UdpSocket.LocalEndpoint(fd, $"UDP blaster to {destination}"), payloadSize, batchSize, segments);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The connected destination: the only address this blaster sends to.</summary>
    public UnderlayEndpoint Destination { get; }

    /// <summary>The source address and ephemeral port the kernel chose.</summary>
    public UnderlayEndpoint LocalEndpoint { get; }

    /// <summary>UDP payload bytes per datagram.</summary>
    public int PayloadSize { get; }

    /// <summary>Datagrams per sendmmsg message: 1, or the GSO segment count.</summary>
    public int SegmentsPerMessage { get; }

    /// <summary>Datagrams one full <see cref="SendBatch"/> sends.</summary>
    public int DatagramsPerBatch => _batch * SegmentsPerMessage;

    /// <summary>Calls that failed with an error other than EAGAIN/EINTR.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>
    /// One sendmmsg(2) of up to <paramref name="messages"/> messages (default: the whole batch); returns the datagrams
    /// the kernel accepted, 0 when the send buffer was full, the call was interrupted or failed (failures are counted
    /// in <see cref="Errors"/>). Never throws except after dispose. Allocates nothing.
    /// </summary>
    public int SendBatch(int messages = MaxBatchSize)
    {
        int n = Libc.SendMmsg(_fd, _messages, (uint)Math.Clamp(messages, 1, _batch), 0);
        if (n > 0)
            return n * SegmentsPerMessage;
        int errno = Errno.Last;
        if (errno is not (Errno.EAGAIN or Errno.EINTR))
            Interlocked.Increment(ref _errors);
        return 0;
    }

    /// <summary>
    /// Sends for <paramref name="duration"/> (or until <paramref name="maxDatagrams"/> were sent, or
    /// <see cref="Cancel"/>; with GSO the count may pass <paramref name="maxDatagrams"/> by less than one message's
    /// segments), at most <paramref name="datagramsPerSecond"/> when positive (paced per batch, so short
    /// bursts of one batch), as fast as the kernel accepts otherwise. A full send buffer is waited on for at most
    /// 10 ms at a time, so the deadline always holds.
    /// </summary>
    public UdpBlastResult Run(TimeSpan duration, long datagramsPerSecond = 0, long maxDatagrams = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(datagramsPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegative(maxDatagrams);
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long sent = 0, calls = 0, errorsBefore = Errors;
        long now = start;
        while (now < end && sent < maxDatagrams && !_canceller.IsCancelled)
        {
            if (datagramsPerSecond > 0)
            {
                double due = (now - start) / (double)Stopwatch.Frequency * datagramsPerSecond;
                if (sent >= due)
                {
                    // Ahead of schedule: sleep when a millisecond or more ahead, otherwise re-check at once.
                    if ((sent - due) / datagramsPerSecond >= 0.001)
                        Thread.Sleep(1);
                    now = Stopwatch.GetTimestamp();
                    continue;
                }
            }
            long left = maxDatagrams - sent;
            int messages = left >= DatagramsPerBatch ? _batch : (int)Math.Max(1, left / SegmentsPerMessage);
            int n = SendBatch(messages);
            calls++;
            sent += n;
            if (n == 0 && Errno.Last == Errno.EAGAIN)
                _canceller.Wait(_fd, forWrite: true, timeoutMs: 10);
            now = Stopwatch.GetTimestamp();
        }
        return new UdpBlastResult(sent, calls, Errors - errorsBefore, Stopwatch.GetElapsedTime(start, now));
    }

    /// <summary>Makes a running <see cref="Run"/> return after its current batch. Thread-safe, idempotent.</summary>
    public void Cancel() => _canceller.Cancel();

    /// <summary>Closes the socket and frees the native buffers. Only after the sending thread has returned.</summary>
    public void Dispose()
    {
        if (_fd.IsClosed)
            return;
        _canceller.Dispose();
        _fd.Dispose();
        NativeMemory.Free(_messages);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_payload);
    }
}
