using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    /// <summary>
    /// recvmmsg(2) without a timeout: receives up to <paramref name="count"/> datagrams in one call; returns how
    /// many (each message's <see cref="MMsgHdr.Length"/> is set), or -1 with errno (EAGAIN when none was queued on a
    /// non-blocking socket or with MSG_DONTWAIT). Never throws.
    /// </summary>
    public static int RecvMmsg(SafeHandle fd, MMsgHdr* messages, uint count, int flags) => RecvMmsgNative(fd, messages, count, flags, null);

    [LibraryImport(Libraries.Libc, EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMmsgNative(SafeHandle fd, MMsgHdr* messages, uint count, int flags, void* timeout);
}
