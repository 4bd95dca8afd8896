using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

/// <summary>errno values used by callers (Linux x86-64/arm64 numbering, asm-generic/errno*.h).</summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int EBADFD = 77;
    public const int EMSGSIZE = 90;
    public const int EOPNOTSUPP = 95;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETUNREACH = 101;
    public const int ENOBUFS = 105;
    public const int ECONNREFUSED = 111;
    public const int EHOSTUNREACH = 113;

    /// <summary>errno of the last [LibraryImport(SetLastError = true)] call on this thread.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    /// <summary>The C library's text for <paramref name="errno"/> (strerror).</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>
    /// The one place where errno becomes an exception: <c>"{what}: {strerror} (errno N, call)"</c>.
    /// <paramref name="what"/> names the object ("add route 10.244.0.0/16 dev flannel0"), <paramref name="call"/>
    /// the syscall ("ioctl(TUNSETIFF)").
    /// </summary>
    public static PlatformException Exception(int errno, string call, string? what = null, string? detail = null) =>
        new(errno, call, what, detail);

    /// <summary>Throws <see cref="Exception"/> for the last error.</summary>
    public static PlatformException LastException(string call, string? what = null) => Exception(Last, call, what);
}
