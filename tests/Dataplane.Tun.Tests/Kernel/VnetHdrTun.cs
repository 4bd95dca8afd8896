using System.Runtime.InteropServices;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun.Tests.Kernel;

/// <summary>
/// A bare TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD, for tests that hand the kernel GSO packets. Test-only on
/// purpose: vnet-header support in <see cref="LinuxTunDevice"/> is being added elsewhere, and this needs nothing but
/// open, two ioctls and write.
/// </summary>
internal sealed class VnetHdrTun : IDisposable
{
    // include/uapi/linux/if_tun.h.
    private const short IFF_TUN = 0x0001, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
    private const uint TUNSETOFFLOAD = 0x400454D0; // _IOW('T', 208, unsigned int)
    public const uint TUN_F_CSUM = 0x01, TUN_F_TSO4 = 0x02, TUN_F_TSO6 = 0x04, TUN_F_USO4 = 0x20, TUN_F_USO6 = 0x40;

    private readonly SafeFdHandle _fd;

    private VnetHdrTun(SafeFdHandle fd, string name, uint offloads)
    {
        _fd = fd;
        Name = name;
        Offloads = offloads;
    }

    /// <summary>Interface name.</summary>
    public string Name { get; }

    /// <summary>The TUNSETOFFLOAD flags the kernel accepted.</summary>
    public uint Offloads { get; }

    /// <summary>
    /// Creates TUN <paramref name="name"/> in the calling thread's namespace (run it inside
    /// <see cref="NetworkNamespace.Run{T}"/>) with CSUM|TSO4|TSO6|USO4|USO6, or without USO on kernels before 6.2.
    /// </summary>
    public static VnetHdrTun Open(string name)
    {
        int raw = Libc.Open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (raw < 0)
            throw new IOException($"open /dev/net/tun: errno {Errno.Last}");
        var fd = new SafeFdHandle(raw);
        try
        {
            var ifr = default(IfReq);
            ifr.SetName(name);
            ifr.Flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
            if (Libc.Ioctl(fd, Libc.TUNSETIFF, ref ifr) < 0)
                throw new IOException($"TUNSETIFF {name}: errno {Errno.Last}");
            uint offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;
            if (Libc.Ioctl(fd, TUNSETOFFLOAD, (nint)offloads) < 0)
            {
                offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
                if (Libc.Ioctl(fd, TUNSETOFFLOAD, (nint)offloads) < 0)
                    throw new IOException($"TUNSETOFFLOAD: errno {Errno.Last}");
            }
            return new VnetHdrTun(fd, name, offloads);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Writes one virtio_net_hdr + packet; throws with errno when the kernel refuses it.</summary>
    public void Write(ReadOnlySpan<byte> headerAndPacket)
    {
        nint n = Libc.Write(_fd, headerAndPacket);
        if (n != headerAndPacket.Length)
            throw new IOException($"write to {Name}: returned {n}, errno {Marshal.GetLastPInvokeError()}");
    }

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
