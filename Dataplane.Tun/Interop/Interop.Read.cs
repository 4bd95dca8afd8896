using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadNative(SafeHandle fd, byte* buffer, nuint count);

    /// <summary>read(2) into <paramref name="buffer"/>: byte count, or -1 with errno. Never throws.</summary>
    /// <remarks>Packet buffers live on the pinned object heap, so <c>fixed</c> costs nothing here.</remarks>
    public static nint Read(SafeHandle fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
            return ReadNative(fd, p, (nuint)buffer.Length);
    }
}
