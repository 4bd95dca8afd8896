using Control.Daemon;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

/// <summary>The health endpoints in-process: /readyz follows <see cref="HealthServer.Ready"/>, /metrics serves what it is given.</summary>
public class HealthServerTests
{
    [Test]
    public void Readyz_is_503_until_ready_then_200_and_503_again_when_stopping()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var server = HealthServer.Start("127.0.0.1", port, NullLogger.Instance, () => "dataplane_sent_datagrams_total 7\n");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        HttpResponseMessage Get(string path) => http.GetAsync($"http://127.0.0.1:{port}{path}").GetAwaiter().GetResult();
        Assert.That((int)Get("/healthz").StatusCode, Is.EqualTo(200));
        Assert.That((int)Get("/readyz").StatusCode, Is.EqualTo(503), "not ready yet");
        server.Ready = true;
        Assert.That((int)Get("/readyz").StatusCode, Is.EqualTo(200));
        var metrics = Get("/metrics");
        Assert.That(metrics.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
        Assert.That(metrics.Content.ReadAsStringAsync().GetAwaiter().GetResult(), Does.Contain("dataplane_sent_datagrams_total 7"));
        server.Ready = false;
        Assert.That((int)Get("/readyz").StatusCode, Is.EqualTo(503), "stopping");
    }

    [Test]
    public void A_port_in_use_is_a_clear_error()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var e = Assert.Throws<ControlException>(() => HealthServer.Start("127.0.0.1", port, NullLogger.Instance));
        Assert.That(e!.Message, Does.Contain($"--healthz-port {port}"));
    }
}
