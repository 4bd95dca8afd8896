using System.Net.Sockets;
using System.Text;

namespace Control.Daemon;

/// <summary>
/// systemd's readiness protocol (sd_notify(3), <c>Type=notify</c>): one datagram per state change, such as
/// <c>READY=1</c> or <c>STOPPING=1</c>, to the Unix socket named by <c>NOTIFY_SOCKET</c> (a path, or an abstract name
/// written with a leading <c>@</c>). flanneld sends READY=1 once it is up; we send it at the same point, which for us is
/// stricter (lease held, device up, routes in place, subnet.env written), and STOPPING=1 when a stop begins.
/// </summary>
/// <remarks>Best effort, as sd_notify: a failed send is ignored (the daemon works without a supervisor).</remarks>
internal sealed class SystemdNotifier : IDisposable
{
    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _target;

    private SystemdNotifier(Socket socket, UnixDomainSocketEndPoint target)
    {
        _socket = socket;
        _target = target;
    }

    /// <summary>A notifier for <c>NOTIFY_SOCKET</c>, or null when it is not set (not started by systemd).</summary>
    public static SystemdNotifier? FromEnvironment(Func<string, string?> environment)
    {
        var path = environment("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path) || (path[0] != '/' && path[0] != '@'))
            return null;
        // An abstract socket name starts with a NUL byte; systemd writes it as '@' in the variable.
        var target = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        return new SystemdNotifier(new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified), target);
    }

    /// <summary>Sends one state line (e.g. "READY=1"); ignores failures.</summary>
    public void Notify(string state)
    {
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(state), _target);
        }
        catch (SocketException)
        {
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _socket.Dispose();
}
