namespace Dataplane.Tun;

/// <summary>
/// A failed Linux call: errno, the call that failed, the kernel's text for errno (strerror), and the
/// object the call was about. The message reads like the <c>ip</c> tool's:
/// <c>"add route 10.244.0.0/16 dev flannel0: File exists (errno 17 from RTM_NEWROUTE)"</c>.
/// Built only by <c>Interop.Errno</c>, so every errno is turned into an exception in one place.
/// </summary>
public sealed class PlatformException : Exception
{
    internal PlatformException(int errno, string call, string? what, string? detail)
        : base(Format(errno, call, what, detail))
    {
        Errno = errno;
        Call = call;
        What = what;
        ErrorText = Interop.Errno.Describe(errno);
    }

    /// <summary>The errno value (e.g. 17 for EEXIST).</summary>
    public int Errno { get; }

    /// <summary>The failing call, e.g. <c>ioctl(TUNSETIFF)</c> or <c>RTM_NEWROUTE</c>.</summary>
    public string Call { get; }

    /// <summary>What the call was about (a device, a route, an address), if known.</summary>
    public string? What { get; }

    /// <summary>strerror(<see cref="Errno"/>), e.g. "File exists".</summary>
    public string ErrorText { get; }

    private static string Format(int errno, string call, string? what, string? detail)
    {
        var text = Interop.Errno.Describe(errno);
        var head = what is null ? call : what;
        var extra = string.IsNullOrEmpty(detail) ? "" : $" ({detail})";
        return $"{head}: {text}{extra} (errno {errno} from {call})";
    }
}
