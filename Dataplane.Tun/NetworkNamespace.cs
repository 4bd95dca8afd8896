using System.Runtime.ExceptionServices;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun;

/// <summary>
/// Runs code inside a named network namespace (<c>/var/run/netns/NAME</c>, as <c>ip netns add</c> makes)
/// without moving the process.
/// </summary>
/// <remarks>
/// <para>Linux network namespaces belong to threads, not processes: setns(CLONE_NEWNET) moves only the
/// calling thread. So the action runs on a NEW dedicated thread that enters the namespace first and
/// ends with the action; it is never a thread-pool thread (a pool thread moved into a namespace would
/// later run unrelated work there) and never the caller's thread.</para>
/// <para>What is created inside stays inside: TUN devices, sockets and netlink sockets keep the
/// namespace they were opened in, so the returned objects may then be used from any thread. Work that
/// must stay in the namespace (awaits, callbacks, Task continuations) must not leave the action: after
/// an await the code continues on a pool thread in the root namespace.</para>
/// </remarks>
public static class NetworkNamespace
{
    /// <summary>Directory where iproute2 bind-mounts named namespaces.</summary>
    public const string NamedDirectory = "/var/run/netns";

    /// <summary>Runs <paramref name="action"/> inside namespace <paramref name="name"/> and returns its result; its exceptions propagate.</summary>
    /// <exception cref="PlatformException">The namespace does not exist or setns failed.</exception>
    public static T Run<T>(string name, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var path = PathOf(name);
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(path);
                result = action();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            Name = $"netns-{name}",
            IsBackground = true,
        };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }

    /// <summary>Runs <paramref name="action"/> inside namespace <paramref name="name"/>.</summary>
    public static void Run(string name, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run<object?>(name, () =>
        {
            action();
            return null;
        });
    }

    /// <summary>
    /// Starts a long-running dedicated thread inside namespace <paramref name="name"/> (a pump that must
    /// open things as it goes). Failure to enter the namespace surfaces from <see cref="Thread.Join()"/> as
    /// nothing running; use <see cref="Run{T}"/> to open the fds and hand them to an ordinary thread instead
    /// when possible.
    /// </summary>
    public static Thread Start(string name, string threadName, Action action)
    {
        var path = PathOf(name);
        var entered = new ManualResetEventSlim();
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(path);
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
                entered.Set();
                return;
            }
            entered.Set();
            action();
        })
        {
            Name = threadName,
            IsBackground = true,
        };
        thread.Start();
        entered.Wait();
        entered.Dispose();
        error?.Throw();
        return thread;
    }

    private static string PathOf(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/', StringComparison.Ordinal))
            throw new ArgumentException($"'{name}' is not a network namespace name", nameof(name));
        return Path.Combine(NamedDirectory, name);
    }

    private static void Enter(string path)
    {
        int raw = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (raw < 0)
            throw Errno.LastException("open", $"network namespace {path}");
        using var fd = new SafeFdHandle(raw);
        if (Libc.SetNs(fd, Libc.CLONE_NEWNET) < 0)
            throw Errno.LastException("setns(CLONE_NEWNET)", $"enter network namespace {path}");
    }
}
