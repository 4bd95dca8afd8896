using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Json;

namespace Control.Observe;

/// <summary>The client side of the control socket, for <c>dataplane status</c>, <c>routes</c> and <c>drops</c>.</summary>
internal sealed class ControlClient : IDisposable
{
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;

    private ControlClient(NetworkStream stream)
    {
        _stream = stream;
        _reader = PipeReader.Create(stream);
        _writer = PipeWriter.Create(stream);
    }

    /// <summary>Connects to a daemon's control socket.</summary>
    /// <exception cref="ControlException">No daemon there (exit 1, with the path and why).</exception>
    public static ControlClient Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var why = e.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable or SocketError.ConnectionRefused when !File.Exists(path) => "no such socket",
                SocketError.ConnectionRefused => "nobody is listening (stale socket)",
                SocketError.AccessDenied => "permission denied (the control socket is root only)",
                _ => e.Message,
            };
            throw new ControlException($"no daemon at {path}: {why} (is `dataplane run` running with this --control-socket?)");
        }
        return new ControlClient(new NetworkStream(socket, ownsSocket: true));
    }

    /// <summary>Sends one request and reads its answer.</summary>
    public async Task<ControlResponse> RequestAsync(string command, CancellationToken ct)
    {
        await SendAsync(command, ct).ConfigureAwait(false);
        return await ReadAsync(ct).ConfigureAwait(false) ?? throw new ControlException("the daemon closed the control connection without answering");
    }

    /// <summary>Sends one request.</summary>
    public ValueTask SendAsync(string command, CancellationToken ct) =>
        ControlFraming.WriteFrameAsync(_writer, JsonSerializer.SerializeToUtf8Bytes(new ControlRequest(command), ControlJson.Default.ControlRequest), ct);

    /// <summary>Reads the next answer; null when the daemon closed the connection.</summary>
    public async Task<ControlResponse?> ReadAsync(CancellationToken ct)
    {
        try
        {
            var frame = await ControlFraming.ReadFrameAsync(_reader, ct).ConfigureAwait(false);
            return frame is null ? null : JsonSerializer.Deserialize(frame, ControlJson.Default.ControlResponse);
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or IOException)
        {
            throw new ControlException($"bad answer on the control socket: {e.Message}");
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        // Nothing is left unflushed (every request is flushed when sent), so the stream goes first and the pipes are
        // completed without writing to a socket the daemon may already have closed.
        _stream.Dispose();
        _reader.Complete();
        try
        {
            _writer.Complete();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }
}
