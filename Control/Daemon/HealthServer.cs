using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// flanneld's health endpoints on <c>--healthz-ip:--healthz-port</c> (flanneld: main.go, mustRunHealthz):
/// <c>/healthz</c> answers 200 while the process runs; <c>/readyz</c> answers 503 until the node is ready and 200
/// after, and 503 again once a stop begins (beyond flanneld: our "ready" is the lease held, the device up, the routes
/// installed and subnet.env written, the same point as systemd's READY=1). <c>/metrics</c> serves Prometheus text from
/// the data path's counters.
/// </summary>
/// <remarks>
/// HttpListener (the BCL's managed HTTP server on Linux) on one background loop; requests are rare (probes every few
/// seconds), so one at a time is enough. Never touches the packet path: the metrics are read from counters the pumps
/// publish anyway.
/// </remarks>
internal sealed class HealthServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ILogger _logger;
    private readonly Func<string>? _metrics;
    private volatile bool _ready;
    private readonly Task _loop;

    private HealthServer(string prefix, ILogger logger, Func<string>? metrics)
    {
        _logger = logger;
        _metrics = metrics;
        _listener.Prefixes.Add(prefix);
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    /// <summary>Starts listening on <paramref name="ip"/>:<paramref name="port"/> (0.0.0.0 = every address).</summary>
    /// <exception cref="ControlException">The port cannot be bound (in use, no permission).</exception>
    public static HealthServer Start(string ip, int port, ILogger logger, Func<string>? metrics = null)
    {
        string host = ip is "0.0.0.0" or "" ? "*" : ip;
        try
        {
            var server = new HealthServer($"http://{host}:{port}/", logger, metrics);
            logger.LogInformation("Health endpoints on http://{Ip}:{Port}/healthz, /readyz, /metrics", ip, port);
            return server;
        }
        catch (HttpListenerException e)
        {
            throw new ControlException($"cannot serve --healthz-port {port} on {ip}: {e.Message}");
        }
    }

    /// <summary>Whether <c>/readyz</c> answers 200.</summary>
    public bool Ready
    {
        get => _ready;
        set => _ready = value;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        _loop.Wait(TimeSpan.FromSeconds(2));
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                var (status, body, type) = context.Request.Url?.AbsolutePath switch
                {
                    "/healthz" => (200, "ok\n", "text/plain"),
                    "/readyz" => _ready ? (200, "ok\n", "text/plain") : (503, "not ready\n", "text/plain"),
                    "/metrics" when _metrics is not null => (200, _metrics(), "text/plain; version=0.0.4"),
                    _ => (404, "not found\n", "text/plain"),
                };
                var bytes = Encoding.UTF8.GetBytes(body);
                context.Response.StatusCode = status;
                context.Response.ContentType = type;
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                _logger.LogDebug("health endpoint: {Error}", e.Message);
            }
        }
    }
}
