using System.Runtime.InteropServices;

namespace Dataplane.Tun;

/// <summary>
/// Owns one Linux file descriptor and closes it exactly once, when the last in-flight call that holds a
/// reference has returned (SafeHandle reference counting). That is what makes Dispose on one thread
/// safe while another thread sits in read/poll on the same fd: the number cannot be closed and reused
/// under the blocked call. Closing does not wake such a call; use <see cref="FdCanceller"/> for that.
/// </summary>
public sealed class SafeFdHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (for the interop layer).</summary>
    public SafeFdHandle() : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    /// <summary>Wraps <paramref name="fd"/>; when <paramref name="ownsHandle"/> the fd is closed on release.</summary>
    public SafeFdHandle(int fd, bool ownsHandle = true) : base(new IntPtr(-1), ownsHandle) => SetHandle(new IntPtr(fd));

    /// <inheritdoc/>
    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The raw descriptor number (for diagnostics and for poll; valid only while referenced).</summary>
    public int Fd => (int)handle.ToInt64();

    /// <inheritdoc/>
    protected override bool ReleaseHandle() =>
        // close() errors cannot be acted on here; Linux frees the fd even when close reports EINTR/EIO.
        Interop.Libc.Close((int)handle.ToInt64()) == 0;
}
