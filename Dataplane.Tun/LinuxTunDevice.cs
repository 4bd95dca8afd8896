using Dataplane.Devices;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// A Linux layer-3 TUN (<c>IFF_TUN | IFF_NO_PI</c>: every read and write is one bare IP packet, no 4-byte packet-info
/// prefix, as flannel's <c>pkg/ip/tun.go OpenTun</c>), optionally with offloads (<c>IFF_VNET_HDR</c> +
/// <c>TUNSETOFFLOAD</c>): each read then returns a 10-byte <c>virtio_net_hdr</c> and a packet of up to 64 KiB (a TCP or
/// UDP super-packet the kernel did not segment, or a packet with a partial checksum), which this class parses into
/// <see cref="PacketBuffer.Offload"/>; each write passes that header back.
/// </summary>
/// <remarks>
/// <para>Threading: one reader thread and one writer thread may use the device at the same time (the
/// kernel allows concurrent read and write on a TUN fd). <see cref="Dispose"/> may be called from any
/// thread; it wakes a blocked reader promptly through <see cref="FdCanceller"/>.</para>
/// <para>Buffers are borrowed: reads fill <see cref="PacketBuffer.Writable"/> at the buffer's current
/// offset (headroom is kept for encapsulation) and set its length; writes send <see cref="PacketBuffer.Data"/>.
/// The caller owns every buffer before and after each call.</para>
/// <para>Batches: the TUN has no multi-packet read or write, so a batch read is one read(2) per packet: the first
/// waits (when asked to), the rest stop at EAGAIN. A batch write is one write(2) per packet. With offloads a single
/// read moves up to ~45 TCP segments, which is where the saving is.</para>
/// <para>Errors: the calls return an <see cref="IoResult"/> (and per-packet verdicts) and never throw; failed writes
/// are counted in <see cref="WriteErrors"/>.</para>
/// <para>The device has no link settings: address, MTU, up/down and routes are rtnetlink's job
/// (<see cref="Netlink.RtNetlink"/>).</para>
/// </remarks>
public sealed class LinuxTunDevice : ITunDevice, IDisposable
{
    private const short IFF_TUN = 0x0001;
    private const short IFF_NO_PI = 0x1000;
    private const short IFF_PERSIST = 0x0800;

    private readonly SafeFdHandle _fd;
    private readonly FdCanceller _canceller = new();
    private const short IFF_VNET_HDR = 0x4000;
    private readonly int _vnet;
    private readonly int _mtu;
    private long _readErrors;
    // Reader-thread state: the first read of the current or last batch found the queue empty (EAGAIN).
    private bool _foundEmpty;
    private long _writeErrors;

    private LinuxTunDevice(SafeFdHandle fd, string name, TunOffloads offloads, int batchSize, int mtu)
    {
        _fd = fd;
        Name = name;
        Offloads = offloads;
        BatchSize = Math.Max(1, batchSize);
        _vnet = offloads == TunOffloads.None ? 0 : VirtioNetHeader.Length;
        _mtu = offloads == TunOffloads.None ? mtu : 65535;
    }

    /// <summary>
    /// Opens <c>/dev/net/tun</c> and creates or attaches the TUN described by <paramref name="options"/>
    /// (default <c>flannel%d</c>, not persistent). The device is created in the network namespace of the
    /// calling thread (see <see cref="NetworkNamespace"/>) and stays there.
    /// </summary>
    /// <exception cref="PlatformException">
    /// No <c>/dev/net/tun</c> (ENOENT; "load the tun module"), not permitted (EPERM: needs root or CAP_NET_ADMIN),
    /// an exact name taken by a non-TUN device or by a TUN another process reads (EINVAL/EBUSY).
    /// </exception>
    public static LinuxTunDevice Open(TunOptions? options = null)
    {
        options ??= new TunOptions();
        ValidateName(options.Name);
        const string path = "/dev/net/tun";
        int raw = Libc.Open(path, Libc.O_RDWR | Libc.O_CLOEXEC | (options.NonBlocking ? Libc.O_NONBLOCK : 0));
        if (raw < 0)
        {
            int errno = Errno.Last;
            throw Errno.Exception(errno, "open", path, errno == Errno.ENOENT
                ? "the kernel has no TUN device node: load the tun module (modprobe tun) or give the container /dev/net/tun"
                : errno is Errno.EACCES or Errno.EPERM ? "needs root or CAP_NET_ADMIN" : null);
        }
        var fd = new SafeFdHandle(raw);
        try
        {
            var ifr = default(IfReq);
            ifr.SetName(options.Name);
            ifr.Flags = (short)(IFF_TUN | IFF_NO_PI | (options.Offloads != TunOffloads.None ? IFF_VNET_HDR : 0));
            if (Libc.Ioctl(fd, Libc.TUNSETIFF, ref ifr) < 0)
            {
                int errno = Errno.Last;
                throw Errno.Exception(errno, "ioctl(TUNSETIFF)", $"create TUN {options.Name}", errno switch
                {
                    Errno.EPERM => "needs root or CAP_NET_ADMIN",
                    Errno.EBUSY => "a TUN of that name is attached to another process",
                    Errno.EINVAL => "the name belongs to a device that is not an IFF_TUN|IFF_NO_PI TUN",
                    _ => null,
                });
            }
            var offloads = options.Offloads == TunOffloads.None ? TunOffloads.None : EnableOffloads(fd, options.Offloads, ifr.GetName());
            // The kernel writes the chosen name back (flannel%d → flannel0).
            var device = new LinuxTunDevice(fd, ifr.GetName(), offloads, options.BatchSize, options.Mtu);
            if (options.Persistent)
                device.SetPersistent(true);
            return device;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The interface name the kernel gave the device (e.g. <c>flannel0</c>).</summary>
    public string Name { get; }

    /// <summary>The TUN fd (tests and diagnostics).</summary>
    internal SafeFdHandle Handle => _fd;

    /// <inheritdoc/>
    public int BatchSize { get; }

    /// <inheritdoc/>
    public TunOffloads Offloads { get; }

    /// <inheritdoc/>
    public int MaxPacketSize => _vnet + _mtu;

    /// <inheritdoc/>
    public int WriteHeadroom => _vnet;

    /// <summary>Reads that failed with an errno other than EAGAIN/EINTR.</summary>
    public long ReadErrors => Interlocked.Read(ref _readErrors);

    /// <summary>Writes the kernel refused (counted drops).</summary>
    public long WriteErrors => Interlocked.Read(ref _writeErrors);

    /// <summary>True when the kernel reports the device persistent (TUNGETIFF IFF_PERSIST).</summary>
    public bool IsPersistent
    {
        get
        {
            var ifr = default(IfReq);
            if (Libc.Ioctl(_fd, Libc.TUNGETIFF, ref ifr) < 0)
                throw Errno.LastException("ioctl(TUNGETIFF)", $"TUN {Name}");
            return (ifr.Flags & IFF_PERSIST) != 0;
        }
    }

    /// <summary>
    /// Sets or clears persistence (TUNSETPERSIST). Clearing it before <see cref="Dispose"/> means the
    /// kernel deletes the device, its address and its routes when the fd closes: the clean-shutdown path.
    /// </summary>
    public void SetPersistent(bool persistent)
    {
        if (Libc.Ioctl(_fd, Libc.TUNSETPERSIST, persistent ? 1 : 0) < 0)
            throw Errno.LastException("ioctl(TUNSETPERSIST)", $"{(persistent ? "make" : "unmake")} TUN {Name} persistent");
    }

    /// <inheritdoc/>
    public IoResult Read(Span<PacketBuffer> packets, bool wait, out int count)
    {
        count = 0;
        if (packets.IsEmpty)
            return IoResult.Ok;
        int limit = Math.Min(packets.Length, BatchSize);
        while (count < limit)
        {
            // Only the first read of a batch may wait: a batch is what is queued now, never a reason to hold packets.
            var result = ReadOne(packets[count], wait && count == 0, first: count == 0);
            if (!result.IsOk)
            {
                // Packets already read are handed over; an error after them comes back on the next call.
                return count > 0 && result.Status != IoStatus.Closed ? IoResult.Ok : result;
            }
            count++;
            if (_foundEmpty)
            {
                // The first packet after the queue was found empty goes out alone: probing for a second one would
                // cost a read(2) returning EAGAIN on the latency path of every request/response exchange, which the
                // per-packet mode does not pay. Under load the queue is never found empty and batches fill.
                _foundEmpty = false;
                return IoResult.Ok;
            }
        }
        return IoResult.Ok;
    }

    /// <inheritdoc/>
    public IoResult Write(Span<PacketBuffer> packets)
    {
        // ITunDevice's contract (and the fake's behaviour, TunConformance): once cancelled, nothing more is written.
        if (_canceller.IsCancelled)
            return new IoResult(IoStatus.Closed);
        foreach (var packet in packets)
        {
            if (packet.Verdict != DropReason.None)
                continue;
            var result = WriteOne(packet);
            if (result.Status == IoStatus.Closed)
                return result;
            if (!result.IsOk)
                packet.Verdict = DropReason.IoError;
        }
        return IoResult.Ok;
    }

    private IoResult WriteOne(PacketBuffer packet)
    {
        if (_vnet != 0)
        {
            if (packet.Headroom < _vnet)
                return new IoResult(IoStatus.Error, Errno.EINVAL); // a caller bug, but never throw per packet
            packet.Offload.Write(packet.Prepend(_vnet));
        }
        try
        {
            while (true)
            {
                nint n = Libc.Write(_fd, packet.Data);
                if (n >= 0)
                    return IoResult.Ok;
                int errno = Errno.Last;
                if (errno == Errno.EINTR)
                    continue;
                if (errno == Errno.EBADF && _canceller.IsCancelled)
                    return new IoResult(IoStatus.Closed);
                // EIO: the link is down; EINVAL: not an IP packet (or header) the kernel accepts. Per-packet drops.
                Interlocked.Increment(ref _writeErrors);
                return new IoResult(IoStatus.Error, errno);
            }
        }
        catch (ObjectDisposedException)
        {
            return new IoResult(IoStatus.Closed);
        }
        finally
        {
            if (_vnet != 0)
                packet.TrimStart(_vnet);
        }
    }

    /// <summary>Wakes a blocked <see cref="Read"/> (it returns Closed) without closing the fd yet.</summary>
    public void Cancel() => _canceller.Cancel();

    /// <summary>Wakes any blocked reader and closes the fd. A persistent device stays in the kernel; others are deleted.</summary>
    public void Dispose()
    {
        _canceller.Dispose();
        _fd.Dispose();
    }

    private IoResult ReadOne(PacketBuffer packet, bool wait, bool first)
    {
        while (true)
        {
            if (_canceller.IsCancelled)
                return new IoResult(IoStatus.Closed);
            nint n;
            try
            {
                n = Libc.Read(_fd, packet.Writable);
            }
            catch (ObjectDisposedException)
            {
                return new IoResult(IoStatus.Closed);
            }
            if (n >= 0)
            {
                packet.SetLength((int)n);
                if (_vnet != 0)
                {
                    // The kernel always writes a whole header (tun_put_user); a shorter read cannot happen, but a
                    // packet that lies about itself is the pump's problem (a counted drop), not an exception here.
                    VirtioNetHeader.TryRead(packet.Data, out var header);
                    packet.Offload = header;
                    packet.TrimStart(Math.Min(_vnet, packet.Length));
                }
                return IoResult.Ok;
            }
            int errno = Errno.Last;
            if (errno == Errno.EINTR)
                continue;
            if (errno != Errno.EAGAIN)
            {
                Interlocked.Increment(ref _readErrors);
                return new IoResult(IoStatus.Error, errno);
            }
            _foundEmpty |= first;
            if (!wait)
                return new IoResult(IoStatus.WouldBlock);
            if (_canceller.Wait(_fd, forWrite: false) == WaitResult.Cancelled)
                return new IoResult(IoStatus.Closed);
        }
    }

    /// <summary>
    /// TUNSETOFFLOAD with what was asked, dropping USO and then everything but TSO4/TSO6/CSUM when the kernel says
    /// EINVAL (USO needs Linux 6.2, commit 399e0827642f). Returns what is in effect.
    /// </summary>
    private static TunOffloads EnableOffloads(SafeFdHandle fd, TunOffloads wanted, string name)
    {
        wanted |= TunOffloads.Checksum; // every segmentation offload requires TUN_F_CSUM (tun_set_offload)
        foreach (var attempt in new[] { wanted, wanted & ~(TunOffloads.Uso4 | TunOffloads.Uso6), TunOffloads.Checksum | (wanted & (TunOffloads.Tso4 | TunOffloads.Tso6)), TunOffloads.Checksum })
        {
            if (Libc.Ioctl(fd, Libc.TUNSETOFFLOAD, (nint)attempt) == 0)
                return attempt;
            if (Errno.Last != Errno.EINVAL)
                throw Errno.LastException("ioctl(TUNSETOFFLOAD)", $"enable offloads {wanted} on TUN {name}");
        }
        throw Errno.Exception(Errno.EINVAL, "ioctl(TUNSETOFFLOAD)", $"enable offloads {wanted} on TUN {name}", "the kernel refused even the checksum offload");
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length >= IfReq.NameSize || name.Any(c => c is '/' or ' ' or ':' || c > 127 || char.IsControl(c)))
            throw new ArgumentException($"'{name}' is not a valid interface name (1-15 ASCII characters, no '/', ':' or spaces)", nameof(name));
    }
}
