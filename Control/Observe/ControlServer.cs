using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Control.Observe;

/// <summary>
/// The daemon's control socket (<c>--control-socket</c>): a Unix stream socket, mode 0600 (root only: connecting needs
/// write permission on the socket file), answering newline-delimited JSON requests (<see cref="ControlFraming"/>):
/// <c>status</c>, <c>routes</c>, and <c>drops</c>, which follows dropped packets until the client hangs up.
/// </summary>
/// <remarks>
/// <para>Off the packet path: connections are served on the thread pool, and read only counters, the table's
/// snapshot and the drop trace. A follower turns the trace on (<see cref="Dataplane.Diagnostics.DropTrace.Follow"/>)
/// for as long as it stays connected.</para>
/// <para>Several daemons share one filesystem in tests and the lab, so each passes its own path. At the default path a
/// live daemon already answering is left alone (this one runs without a control socket, with a warning); an explicit
/// path that a live daemon answers fails the start. A stale socket file (nobody answers) is replaced.</para>
/// </remarks>
internal sealed class ControlServer : IDisposable
{
    /// <summary>Where the socket goes when --control-socket is not given.</summary>
    public const string DefaultPath = "/run/dataplane/control.sock";

    /// <summary>The --control-socket value that turns the socket off.</summary>
    public const string Off = "none";

    private static readonly TimeSpan FollowPoll = TimeSpan.FromMilliseconds(50);
    private readonly Socket _listener;
    private readonly DaemonInfo _info;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    private ControlServer(string path, Socket listener, DaemonInfo info, ILogger logger)
    {
        Path = path;
        _listener = listener;
        _info = info;
        _logger = logger;
        _accept = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The socket's path.</summary>
    public string Path { get; }

    /// <summary>
    /// Binds the socket (<paramref name="path"/> null: <see cref="DefaultPath"/>; <see cref="Off"/>: no socket, returns null).
    /// </summary>
    /// <exception cref="ControlException">An explicit path is in use by a live daemon or cannot be bound.</exception>
    public static ControlServer? Start(string? path, DaemonInfo info, ILogger logger)
    {
        if (path == Off)
            return null;
        bool explicitPath = path is not null;
        path ??= DefaultPath;
        try
        {
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (!explicitPath && dir is not null && !Directory.Exists(dir))
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (File.Exists(path))
            {
                if (Answers(path))
                {
                    if (explicitPath)
                        throw new ControlException($"--control-socket {path}: another daemon is serving it");
                    logger.LogWarning("Control socket {Path} is served by another daemon; running without one (pass --control-socket PATH)", path);
                    return null;
                }
                File.Delete(path); // stale: its daemon is gone
            }
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint(path));
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                socket.Listen(16);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            logger.LogInformation("Control socket on {Path} (dataplane status, routes, drops --follow)", path);
            return new ControlServer(path, socket, info, logger);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            if (!explicitPath)
            {
                logger.LogWarning("Cannot serve the control socket {Path}: {Error}; running without one", path, e.Message);
                return null;
            }
            throw new ControlException($"cannot serve --control-socket {path}: {e.Message}");
        }
    }

    private static bool Answers(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        _accept.Wait(TimeSpan.FromSeconds(2));
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);
        var ct = _stop.Token;
        try
        {
            while (await ControlFraming.ReadFrameAsync(reader, ct).ConfigureAwait(false) is { } frame)
            {
                ControlRequest? request;
                try
                {
                    request = JsonSerializer.Deserialize(frame, ControlJson.Default.ControlRequest);
                }
                catch (JsonException e)
                {
                    await RespondAsync(writer, new ControlResponse { Error = $"bad request: {e.Message}" }, ct).ConfigureAwait(false);
                    return;
                }
                switch (request?.Command)
                {
                    case "status":
                        await RespondAsync(writer, new ControlResponse { Ok = true, Status = StatusBuilder.Status(_info) }, ct).ConfigureAwait(false);
                        break;
                    case "routes":
                        await RespondAsync(writer, new ControlResponse { Ok = true, Routes = StatusBuilder.Routes(_info) }, ct).ConfigureAwait(false);
                        break;
                    case "drops":
                        await FollowDropsAsync(reader, writer, ct).ConfigureAwait(false);
                        return;
                    default:
                        await RespondAsync(writer, new ControlResponse { Error = $"unknown command '{request?.Command}': use status, routes or drops" }, ct).ConfigureAwait(false);
                        return;
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("control connection ended: {Error}", e.Message);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static ValueTask RespondAsync(PipeWriter writer, ControlResponse response, CancellationToken ct) =>
        ControlFraming.WriteFrameAsync(writer, JsonSerializer.SerializeToUtf8Bytes(response, ControlJson.Default.ControlResponse), ct);

    /// <summary>Streams traced drops until the client closes its end (or the daemon stops).</summary>
    private async Task FollowDropsAsync(PipeReader reader, PipeWriter writer, CancellationToken ct)
    {
        if ((_info.DataPath as IObservableDataPath)?.Drops.Trace is not { } trace)
        {
            await RespondAsync(writer, new ControlResponse { Error = "no packet data path is running yet" }, ct).ConfigureAwait(false);
            return;
        }
        using var follower = trace.Follow();
        await RespondAsync(writer, new ControlResponse { Ok = true }, ct).ConfigureAwait(false);
        // The client sends nothing more: a completed read means it hung up.
        var hangUp = reader.ReadAsync(ct).AsTask();
        long reported = 0;
        while (!hangUp.IsCompleted)
        {
            while (follower.TryRead() is { } drop)
            {
                var missed = follower.Missed - reported;
                reported = follower.Missed;
                await RespondAsync(writer, new ControlResponse { Ok = true, Drop = StatusBuilder.Drop(drop, missed) }, ct).ConfigureAwait(false);
            }
            await Task.WhenAny(hangUp, Task.Delay(FollowPoll, ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }
}
