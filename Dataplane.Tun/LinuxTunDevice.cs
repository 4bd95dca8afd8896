using Dataplane.Devices;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// A Linux layer-3 TUN (<c>IFF_TUN | IFF_NO_PI</c>: every read and write is one bare IP packet, no
/// 4-byte packet-info prefix, as flannel's <c>pkg/ip/tun.go OpenTun</c>), one syscall per packet.
/// </summary>
/// <remarks>
/// <para>Threading: one reader thread and one writer thread may use the device at the same time (the
/// kernel allows concurrent read and write on a TUN fd). <see cref="Dispose"/> may be called from any
/// thread; it wakes a blocked reader promptly through <see cref="FdCanceller"/>.</para>
/// <para>Buffers are borrowed: reads fill <see cref="PacketBuffer.Writable"/> at the buffer's current
/// offset (headroom is kept for encapsulation) and set its length; writes send <see cref="PacketBuffer.Data"/>.
/// The caller owns every buffer before and after each call.</para>
/// <para>Errors: the per-packet calls return an <see cref="IoResult"/> and never throw. The batch calls
/// count failed writes into <see cref="WriteErrors"/> (and <see cref="DropReason.IoError"/> when a
/// <see cref="DropCounters"/> was given) and throw only when the device itself is gone (EBADFD: it was
/// deleted under us), which the pump must treat as fatal.</para>
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
    private readonly DropCounters? _drops;
    private long _readErrors;
    private long _writeErrors;

    private LinuxTunDevice(SafeFdHandle fd, string name, DropCounters? drops)
    {
        _fd = fd;
        Name = name;
        _drops = drops;
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
    public static LinuxTunDevice Open(TunOptions? options = null, DropCounters? drops = null)
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
            ifr.Flags = IFF_TUN | IFF_NO_PI;
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
            // The kernel writes the chosen name back (flannel%d → flannel0).
            var device = new LinuxTunDevice(fd, ifr.GetName(), drops);
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

    /// <summary>Packets per <see cref="Read(Span{PacketBuffer})"/> / <see cref="Write(ReadOnlySpan{PacketBuffer})"/>: 1 for a plain TUN. Fixed for the object's lifetime.</summary>
    public int BatchSize => 1;

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

    /// <summary>
    /// Reads one packet into <paramref name="packet"/>'s <see cref="PacketBuffer.Writable"/> at its
    /// current offset and sets its length, waiting until one arrives. Returns <see cref="IoStatus.Closed"/>
    /// once the device is disposed. One read(2) per packet while packets are queued; poll(2) only when idle.
    /// </summary>
    public IoResult Read(PacketBuffer packet) => ReadCore(packet, wait: true);

    /// <summary>As <see cref="Read(PacketBuffer)"/> but returns <see cref="IoStatus.WouldBlock"/> instead of waiting.</summary>
    public IoResult TryRead(PacketBuffer packet) => ReadCore(packet, wait: false);

    /// <summary>Writes <paramref name="packet"/>'s <see cref="PacketBuffer.Data"/> as one IP packet (borrowed; one write(2)).</summary>
    public IoResult Write(PacketBuffer packet)
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
            // EIO: the link is down; EINVAL: not an IP packet the kernel accepts. Both are per-packet drops.
            Interlocked.Increment(ref _writeErrors);
            return new IoResult(IoStatus.Error, errno);
        }
    }

    /// <summary>
    /// Batch form (style-anchors <c>ITunDevice</c>): blocks until at least one packet is read into
    /// <paramref name="packets"/>[0..], returns the count; 0 only after <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="PlatformException">The device is gone (deleted under us) or another non-transient read error.</exception>
    public int Read(Span<PacketBuffer> packets)
    {
        if (packets.IsEmpty)
            return 0;
        var result = Read(packets[0]);
        return result.Status switch
        {
            IoStatus.Ok => 1,
            IoStatus.Closed => 0,
            _ => throw Errno.Exception(result.Errno, "read", $"TUN {Name}"),
        };
    }

    /// <summary>Batch form: writes each packet (borrowed) and returns how many the kernel accepted; failures are counted drops.</summary>
    public int Write(ReadOnlySpan<PacketBuffer> packets)
    {
        int written = 0;
        foreach (var packet in packets)
        {
            var result = Write(packet);
            if (result.IsOk)
                written++;
            else if (result.Status == IoStatus.Error)
                _drops?.Increment(DropReason.IoError);
        }
        return written;
    }

    /// <summary>Wakes a blocked <see cref="Read(PacketBuffer)"/> (it returns Closed) without closing the fd yet.</summary>
    public void Cancel() => _canceller.Cancel();

    /// <summary>Wakes any blocked reader and closes the fd. A persistent device stays in the kernel; others are deleted.</summary>
    public void Dispose()
    {
        _canceller.Dispose();
        _fd.Dispose();
    }

    private IoResult ReadCore(PacketBuffer packet, bool wait)
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
            if (!wait)
                return new IoResult(IoStatus.WouldBlock);
            if (_canceller.Wait(_fd, forWrite: false) == WaitResult.Cancelled)
                return new IoResult(IoStatus.Closed);
        }
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length >= IfReq.NameSize || name.Any(c => c is '/' or ' ' or ':' || c > 127 || char.IsControl(c)))
            throw new ArgumentException($"'{name}' is not a valid interface name (1-15 ASCII characters, no '/', ':' or spaces)", nameof(name));
    }
}
