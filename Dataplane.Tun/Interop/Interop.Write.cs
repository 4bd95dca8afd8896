using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteNative(SafeHandle fd, byte* buffer, nuint count);

    /// <summary>write(2) of <paramref name="buffer"/>: byte count, or -1 with errno. Never throws.</summary>
    public static nint Write(SafeHandle fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
            return WriteNative(fd, p, (nuint)buffer.Length);
    }
}
