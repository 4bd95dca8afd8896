using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;

namespace Control.Daemon;

/// <summary>
/// "One daemon per node", where a node is a network namespace: a listening Unix socket bound to a fixed name in the
/// abstract namespace. A second <c>dataplane run</c> in the same network namespace fails to bind (EADDRINUSE) before
/// it has touched anything the first one owns (lease, subnet.env, routes, TUN, iptables), and names the holder by
/// connecting and reading its pid with <c>SO_PEERCRED</c>.
/// </summary>
/// <remarks>
/// <para>Why an abstract socket rather than a lock file keyed by the netns inode (<c>/proc/self/ns/net</c>):
/// abstract Unix socket names live in the network namespace (unix(7)), so the scope is exactly the one we need with no
/// key to compute, and it works unchanged when several namespaces share one filesystem and one lease dir (the lab).
/// The kernel releases the name when the last descriptor closes, on every kind of exit including SIGKILL and OOM, so
/// there is no stale lock to detect or clean up (a lock file would need flock plus care about a reused inode number
/// after a namespace is destroyed, and a writable directory everywhere we run). The holder's pid comes from the
/// kernel (SO_PEERCRED), not from a file anyone could write.</para>
/// <para>Limits: it excludes our own daemons only (flanneld does not take this name); any process in the namespace can
/// squat the name, which makes our start fail loudly, never silently share the node. An accept loop drains
/// connections so that any number of failed second starts never fill the backlog.</para>
/// </remarks>
internal sealed class InstanceLock : IDisposable
{
    /// <summary>The abstract name (without the leading NUL) every <c>dataplane run</c> binds.</summary>
    public const string DefaultName = "dataplane-run";

    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    private readonly Socket _socket;

    private InstanceLock(Socket socket)
    {
        _socket = socket;
        _ = DrainAsync(socket);
    }

    /// <summary>Takes the lock for this network namespace, or throws a <see cref="ControlException"/> naming the holder.</summary>
    public static InstanceLock Acquire(string name = DefaultName)
    {
        var endpoint = new UnixDomainSocketEndPoint("\0" + name);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(16);
            return new InstanceLock(socket);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new ControlException(
                $"another dataplane daemon is already running in this network namespace ({DescribeHolder(endpoint)}); " +
                "it owns this node's lease, subnet.env, routes and TUN: stop it first (one daemon per network namespace)");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ControlException($"cannot take the per-namespace instance lock (abstract socket @{name}): {e.Message}");
        }
    }

    /// <summary>"pid N (comm)" of the process holding <paramref name="endpoint"/>, as far as it can be learnt.</summary>
    private static string DescribeHolder(UnixDomainSocketEndPoint endpoint)
    {
        try
        {
            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            client.Connect(endpoint);
            // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: the listener's credentials at listen() time, with the
            // pid translated into our pid namespace by the kernel (0 if it is not visible from here).
            var cred = new byte[12];
            int n = client.GetRawSocketOption(SolSocket, SoPeerCred, cred);
            if (n < 4)
                return "pid unknown";
            int pid = BinaryPrimitives.ReadInt32LittleEndian(cred);
            if (pid <= 0)
                return "pid not visible from this pid namespace";
            var text = "pid " + pid.ToString(CultureInfo.InvariantCulture);
            var comm = $"/proc/{pid}/comm";
            return File.Exists(comm) ? $"{text}, {File.ReadAllText(comm).Trim()}" : text;
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            return $"pid unknown: {e.Message}";
        }
    }

    private static async Task DrainAsync(Socket listener)
    {
        try
        {
            while (true)
            {
                using var peer = await listener.AcceptAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Disposed: the lock is released.
        }
    }

    /// <summary>Releases the name (the kernel also does it when the process dies).</summary>
    public void Dispose() => _socket.Dispose();
}
