using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOptNative(SafeHandle fd, int level, int name, void* value, uint* length);

    /// <summary>getsockopt(2) with an int value.</summary>
    public static int GetSockOpt(SafeHandle fd, int level, int name, out int value)
    {
        int v = 0;
        uint length = sizeof(int);
        int rc = GetSockOptNative(fd, level, name, &v, &length);
        value = v;
        return rc;
    }
}
