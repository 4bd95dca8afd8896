using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static partial class Libc
{
    public const int CLONE_NEWNET = 0x40000000;

    /// <summary>setns(2): moves the CALLING THREAD into the namespace behind <paramref name="fd"/>.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNs(SafeHandle fd, int nsType);
}
