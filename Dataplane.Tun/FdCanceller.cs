using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// Wakes threads blocked waiting on a TUN or socket fd, after wireguard-go's <c>rwcancel</c> (which
/// uses a pipe; an eventfd is one fd instead of two). A blocking read on a TUN is not interrupted by
/// close(), so every blocking wait here is a poll on <c>{fd, eventfd}</c>: <see cref="Cancel"/> writes
/// the eventfd, which stays readable forever after, so every current and future wait returns
/// <see cref="WaitResult.Cancelled"/> at once.
/// </summary>
/// <remarks>
/// The devices keep their fds non-blocking and try the read first, polling only when it returns
/// EAGAIN, so a busy pump pays one syscall per packet, not two (flannel's proxy loops the same way).
/// Thread-safe: any number of threads may wait; any thread may cancel.
/// </remarks>
public sealed class FdCanceller : IDisposable
{
    private readonly SafeFdHandle _eventFd;
    private int _cancelled;

    /// <summary>Creates the eventfd.</summary>
    /// <exception cref="PlatformException">eventfd failed (fd limit).</exception>
    public FdCanceller()
    {
        int fd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (fd < 0)
            throw Errno.LastException("eventfd", "fd canceller");
        _eventFd = new SafeFdHandle(fd);
    }

    /// <summary>True once <see cref="Cancel"/> was called.</summary>
    public bool IsCancelled => Volatile.Read(ref _cancelled) != 0;

    /// <summary>Wakes every waiter, now and later. Idempotent.</summary>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _cancelled, 1) != 0)
            return;
        Span<byte> one = stackalloc byte[8];
        BitConverter.TryWriteBytes(one, 1UL);
        // An eventfd write of 1 only fails if the counter would overflow, which cannot happen here.
        Libc.Write(_eventFd, one);
    }

    /// <summary>
    /// Waits until <paramref name="fd"/> is ready for <paramref name="forWrite"/> ? writing : reading, the
    /// canceller fires, or <paramref name="timeoutMs"/> passes (-1: no timeout). EINTR is retried.
    /// POLLERR/POLLHUP on <paramref name="fd"/> count as ready, so the next read or write reports the
    /// error instead of the caller spinning on poll.
    /// </summary>
    public WaitResult Wait(SafeFdHandle fd, bool forWrite, int timeoutMs = -1)
    {
        bool fdRef = false, evRef = false;
        try
        {
            fd.DangerousAddRef(ref fdRef);
            _eventFd.DangerousAddRef(ref evRef);
            long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
            while (true)
            {
                var target = new PollFd { Fd = fd.Fd, Events = forWrite ? PollFd.POLLOUT : PollFd.POLLIN };
                var cancel = new PollFd { Fd = _eventFd.Fd, Events = PollFd.POLLIN };
                int wait = timeoutMs < 0 ? -1 : (int)Math.Max(0, deadline - Environment.TickCount64);
                int rc = Libc.Poll2(ref target, ref cancel, wait);
                if (rc < 0)
                {
                    int errno = Errno.Last;
                    if (errno == Errno.EINTR)
                        continue;
                    throw Errno.Exception(errno, "poll", $"wait on fd {fd.Fd}");
                }
                if (cancel.REvents != 0 || IsCancelled)
                    return WaitResult.Cancelled;
                if (target.REvents != 0)
                    return WaitResult.Ready;
                if (rc == 0)
                    return WaitResult.TimedOut;
            }
        }
        catch (ObjectDisposedException)
        {
            // The fd or the canceller was disposed while we were getting here: that is a shutdown.
            return WaitResult.Cancelled;
        }
        finally
        {
            if (fdRef)
                fd.DangerousRelease();
            if (evRef)
                _eventFd.DangerousRelease();
        }
    }

    /// <summary>
    /// Waits until <paramref name="a"/> or <paramref name="b"/> is readable, or until cancelled (the single-threaded
    /// pump's idle wait, flannel's <c>poll({tun, sock})</c>).
    /// </summary>
    public WaitResult WaitAnyReadable(SafeFdHandle a, SafeFdHandle b)
    {
        bool aRef = false, bRef = false, evRef = false;
        try
        {
            a.DangerousAddRef(ref aRef);
            b.DangerousAddRef(ref bRef);
            _eventFd.DangerousAddRef(ref evRef);
            while (true)
            {
                var first = new PollFd { Fd = a.Fd, Events = PollFd.POLLIN };
                var second = new PollFd { Fd = b.Fd, Events = PollFd.POLLIN };
                var cancel = new PollFd { Fd = _eventFd.Fd, Events = PollFd.POLLIN };
                int rc = Libc.Poll3(ref first, ref second, ref cancel, -1);
                if (rc < 0)
                {
                    int errno = Errno.Last;
                    if (errno == Errno.EINTR)
                        continue;
                    throw Errno.Exception(errno, "poll", $"wait on fds {a.Fd} and {b.Fd}");
                }
                if (cancel.REvents != 0 || IsCancelled)
                    return WaitResult.Cancelled;
                return WaitResult.Ready;
            }
        }
        catch (ObjectDisposedException)
        {
            return WaitResult.Cancelled;
        }
        finally
        {
            if (aRef)
                a.DangerousRelease();
            if (bRef)
                b.DangerousRelease();
            if (evRef)
                _eventFd.DangerousRelease();
        }
    }

    /// <summary>Cancels and releases the eventfd (closed once no waiter holds it).</summary>
    public void Dispose()
    {
        Cancel();
        _eventFd.Dispose();
    }
}
