using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
    private static partial int PollNative(PollFd* fds, nuint count, int timeoutMs);

    /// <summary>poll(2) on three raw fds (same reference rule as <see cref="Poll2"/>).</summary>
    /// <summary>
    /// poll(2) on two raw fds. The caller holds a reference on both SafeHandles (DangerousAddRef) for the
    /// duration, so neither number can be closed and reused while the kernel waits on it.
    /// </summary>
    public static int Poll3(ref PollFd first, ref PollFd second, ref PollFd third, int timeoutMs)
    {
        PollFd* fds = stackalloc PollFd[3];
        fds[0] = first;
        fds[1] = second;
        fds[2] = third;
        int rc = PollNative(fds, 3, timeoutMs);
        first = fds[0];
        second = fds[1];
        third = fds[2];
        return rc;
    }

    /// <summary>
    /// poll(2) on two raw fds. The caller holds a reference on both SafeHandles (DangerousAddRef) for the
    /// duration, so neither number can be closed and reused while the kernel waits on it.
    /// </summary>
    public static int Poll2(ref PollFd first, ref PollFd second, int timeoutMs)
    {
        PollFd* fds = stackalloc PollFd[2];
        fds[0] = first;
        fds[1] = second;
        int rc = PollNative(fds, 2, timeoutMs);
        first = fds[0];
        second = fds[1];
        return rc;
    }
}
