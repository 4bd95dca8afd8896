using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

/// <summary>struct iovec (sys/uio.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IOVector
{
    public byte* Base;
    public nuint Count;
}
