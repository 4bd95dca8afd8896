using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static partial class Libc
{
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    /// <summary>eventfd(2): a counter fd that polls readable once written (used to wake blocked readers).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);
}
