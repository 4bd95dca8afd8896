using System.Net;
using System.Net.Sockets;
using Control.Leases;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests.Registry;

/// <summary>An endpoint that only speaks etcd v2 (flannel before 0.18) is named as such, not retried forever.</summary>
public class EtcdV2Tests
{
    [Test, CancelAfter(30_000)]
    public async Task A_v2_only_endpoint_is_a_clear_error()
    {
        // A stand-in for an etcd 2.x server: HTTP/1.1 only (so gRPC fails) and etcd's /version document.
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var http = new HttpListener();
        http.Prefixes.Add($"http://127.0.0.1:{port}/");
        http.Start();
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            for (int i = 0; i < 100 && !stop.IsCancellationRequested; i++)
            {
                var context = await http.GetContextAsync();
                var body = context.Request.Url?.AbsolutePath == "/version" ? """{"etcdserver":"2.3.8","etcdcluster":"2.3.0"}""" : "404 page not found";
                context.Response.StatusCode = body.StartsWith('{') ? 200 : 404;
                await context.Response.OutputStream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(body));
                context.Response.Close();
            }
        });
        await using var store = EtcdSubnetRegistry.Open(new EtcdOptions([$"http://127.0.0.1:{port}"], "/coreos.com/network"), TimeProvider.System, NullLogger.Instance);
        var e = Assert.ThrowsAsync<ControlException>(async () => await store.GetNetworkConfigAsync(CancellationToken.None))!;
        Assert.That(e.Message, Does.Contain("version 2.3.8").And.Contain("v2 API").And.Contain("out of scope"));
        await stop.CancelAsync();
        http.Stop();
    }
}
