using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static partial class Libc
{
    /// <summary>close(2). Only <see cref="SafeFdHandle"/> calls it, exactly once per fd.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);
}
