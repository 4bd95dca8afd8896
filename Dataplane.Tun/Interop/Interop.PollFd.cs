using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

/// <summary>struct pollfd (poll.h): 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public const short POLLIN = 0x1;
    public const short POLLOUT = 0x4;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    public int Fd;
    public short Events;
    public short REvents;
}
