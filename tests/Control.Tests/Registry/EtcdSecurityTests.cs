using System.Diagnostics;
using Control.Leases;
using Dataplane.Packets;
using Dataplane.Testing;
using Microsoft.Extensions.Logging;

namespace Control.Tests.Registry;

/// <summary>
/// The etcd store behind TLS with client certificates and behind etcd's user/password authentication, against a
/// real etcd started by each test (certificates from <see cref="TestPki"/> in the test's own directory). A
/// misconfiguration is one clear error, raised within seconds: never a retry loop that looks like an outage.
/// </summary>
[NonParallelizable]
[Category("Etcd")]
public class EtcdSecurityTests
{
    private static readonly LeaseAttributes Node1 = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.1"));
    private static readonly Ipv4Prefix Subnet = Ipv4Prefix.Parse("10.244.5.0/24");

    /// <summary>How long a misconfiguration may take to surface: the first call's deadline is 5 s.</summary>
    private static readonly TimeSpan ClearErrorWithin = TimeSpan.FromSeconds(20);

    private static string Prefix() => $"/t{Guid.NewGuid():N}/network";

    private static EtcdSubnetRegistry Open(EtcdCluster etcd, string prefix, string? ca = null, string? cert = null, string? key = null, string? user = null, string? password = null) =>
        EtcdSubnetRegistry.Open(new EtcdOptions(etcd.ClientUrls, prefix, ca, cert, key, user, password), TimeProvider.System, new ProgressLogger());

    [Test, CancelAfter(120_000)]
    public async Task Tls_with_a_client_certificate_acquires_and_a_second_client_sees_the_lease()
    {
        using var dir = new TempDir();
        var pki = TestPki.Create(dir["pki"]);
        using var etcd = EtcdCluster.Start(tls: pki);
        Assert.That(etcd.Endpoints, Does.StartWith("https://"));
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");

        await using var a = Open(etcd, prefix, pki.Ca, pki.ClientCert, pki.ClientKey);
        await using var b = Open(etcd, prefix, pki.Ca, pki.ClientCert, pki.ClientKey);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.That(await a.GetNetworkConfigAsync(cts.Token), Does.Contain("10.244.0.0/16"));
        Assert.That(await a.TryCreateAsync(Subnet, Node1, TimeSpan.FromMinutes(5), cts.Token), Is.Not.Null);

        await using var watch = b.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await watch.MoveNextAsync(), Is.True);
        Assert.That(watch.Current.Leases.Select(l => (l.Subnet, l.Attributes.PublicIP)), Is.EqualTo(new[] { (Subnet, Node1.PublicIP) }));
        var renewed = await a.RenewAsync(Subnet, Node1.PublicIP, TimeSpan.FromMinutes(5), cts.Token);
        Assert.That(renewed.Outcome, Is.EqualTo(RenewOutcome.Renewed), "renewal over TLS");
        Assert.That(etcd.Ctl("get", "--keys-only", "--prefix", prefix + "/subnets/").Check("get").StdOut, Does.Contain("10.244.5.0-24"));
    }

    [Test, CancelAfter(120_000)]
    public async Task Tls_without_the_client_certificate_is_a_clear_error()
    {
        using var dir = new TempDir();
        var pki = TestPki.Create(dir["pki"]);
        using var etcd = EtcdCluster.Start(tls: pki);
        await using var store = Open(etcd, Prefix(), ca: pki.Ca);
        var message = await FailsClearlyAsync(store);
        Assert.That(message, Does.Contain("requires a client certificate").And.Contain("--etcd-certfile"), message);
    }

    [Test, CancelAfter(120_000)]
    public async Task Tls_with_the_wrong_ca_is_a_clear_error()
    {
        using var dir = new TempDir();
        var pki = TestPki.Create(dir["pki"]);
        using var etcd = EtcdCluster.Start(tls: pki);
        await using var store = Open(etcd, Prefix(), pki.OtherCa, pki.ClientCert, pki.ClientKey);
        var message = await FailsClearlyAsync(store);
        Assert.That(message, Does.Contain("certificate").And.Contain("--etcd-cafile"), message);
    }

    [Test, CancelAfter(120_000)]
    public async Task Username_and_password_acquire_and_a_second_client_sees_the_lease()
    {
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        AddFlannelUser(etcd, prefix);
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");

        await using var a = Open(etcd, prefix, user: "flannel", password: "s3cret");
        await using var b = Open(etcd, prefix, user: "flannel", password: "s3cret");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.That(await a.GetNetworkConfigAsync(cts.Token), Does.Contain("10.244.0.0/16"));
        Assert.That(await a.TryCreateAsync(Subnet, Node1, TimeSpan.FromMinutes(5), cts.Token), Is.Not.Null);
        await using var watch = b.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await watch.MoveNextAsync(), Is.True);
        Assert.That(watch.Current.Leases.Select(l => l.Subnet), Is.EqualTo(new[] { Subnet }));
        var renewed = await a.RenewAsync(Subnet, Node1.PublicIP, TimeSpan.FromMinutes(5), cts.Token);
        Assert.That(renewed.Outcome, Is.EqualTo(RenewOutcome.Renewed), "renewal with a token");
        await a.DeleteAsync(Subnet, cts.Token);
    }

    [Test, CancelAfter(120_000)]
    public async Task A_wrong_password_is_a_clear_error()
    {
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        AddFlannelUser(etcd, prefix);
        await using var store = Open(etcd, prefix, user: "flannel", password: "wrong");
        var message = await FailsClearlyAsync(store);
        Assert.That(message, Does.Contain("authentication failed").And.Contain("--etcd-username/--etcd-password"), message);
    }

    [Test, CancelAfter(120_000)]
    public async Task No_credentials_against_an_etcd_with_auth_is_a_clear_error()
    {
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        AddFlannelUser(etcd, prefix);
        await using var store = Open(etcd, prefix);
        var message = await FailsClearlyAsync(store);
        Assert.That(message, Does.Contain("--etcd-username"), message);
    }

    [Test, CancelAfter(180_000)]
    public void Daemons_with_flanneld_s_tls_flags_are_peers_and_leases_lists_them_over_tls()
    {
        using var dir = new TempDir();
        var pki = TestPki.Create(dir["pki"]);
        using var etcd = EtcdCluster.Start(tls: pki);
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        string[] tls = [$"--etcd-endpoints={etcd.Endpoints}", $"--etcd-prefix={prefix}", "--etcd-cafile", pki.Ca, "--etcd-certfile", pki.ClientCert, "--etcd-keyfile", pki.ClientKey];
        string[] Run(int node) => ["run", "--iface", "lo", "--public-ip", $"198.18.0.{node}", "--subnet-file", dir[$"node{node}/subnet.env"], "--unsafe-control-only", .. tls];

        using var a = new Control.Tests.ProcessTests.Daemon(Run(1));
        Assert.That(a.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(30)), Is.True, a.Log);
        using var b = new Control.Tests.ProcessTests.Daemon(Run(2));
        Assert.That(b.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(30)), Is.True, b.Log);
        Assert.That(a.WaitForLog("via 198.18.0.2", TimeSpan.FromSeconds(5)), Is.True, "a sees b within a second (failing at 5 s):\n" + a.Log);

        var listed = DataplaneProcess.Run(["leases", .. tls], TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine(listed.Out + listed.Err);
        Assert.That(listed.Exit, Is.Zero, listed.Err);
        Assert.That(listed.Out, Does.Contain("198.18.0.1 ").And.Contain("198.18.0.2 "));

        var noCert = DataplaneProcess.Run(["leases", $"--etcd-endpoints={etcd.Endpoints}", $"--etcd-prefix={prefix}", "--etcd-cafile", pki.Ca], TimeSpan.FromSeconds(60));
        Assert.That((noCert.Exit, noCert.Out), Is.EqualTo((1, "")), noCert.Err);
        Assert.That(noCert.Err.Trim(), Does.StartWith("dataplane: ").And.Contain("requires a client certificate").And.Not.Contain("\n"), noCert.Err);
    }

    [Test, CancelAfter(180_000)]
    public void Daemon_with_a_wrong_password_exits_with_one_line_and_leases_lists_with_the_right_one()
    {
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        AddFlannelUser(etcd, prefix);
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        string[] store = [$"--etcd-endpoints={etcd.Endpoints}", $"--etcd-prefix={prefix}", "--etcd-username", "flannel"];
        string[] Run(string password) => ["run", "--iface", "lo", "--public-ip", "198.18.0.1", "--subnet-file", dir["subnet.env"], "--unsafe-control-only", .. store, "--etcd-password", password];

        var wrong = DataplaneProcess.Run(Run("wrong"), TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine(wrong.Err);
        Assert.That(wrong.Exit, Is.EqualTo(1), wrong.Out + wrong.Err);
        Assert.That(wrong.Err + wrong.Out, Does.Contain("authentication failed").And.Contain("--etcd-password").And.Not.Contain("   at "), "one clear line, no stack trace");

        using var a = new Control.Tests.ProcessTests.Daemon(Run("s3cret"));
        Assert.That(a.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(30)), Is.True, a.Log);
        var listed = DataplaneProcess.Run(["leases", .. store, "--etcd-password", "s3cret"], TimeSpan.FromSeconds(60));
        Assert.That((listed.Exit, listed.Out.Contains("198.18.0.1 ", StringComparison.Ordinal)), Is.EqualTo((0, true)), listed.Out + listed.Err);
        var refused = DataplaneProcess.Run(["leases", .. store, "--etcd-password", "nope"], TimeSpan.FromSeconds(60));
        Assert.That((refused.Exit, refused.Err.Contains("authentication failed", StringComparison.Ordinal)), Is.EqualTo((1, true)), refused.Err);
    }

    [Test, CancelAfter(120_000)]
    public void Leases_refuses_contradictory_stores_and_names_an_unreachable_etcd()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["leases"]);
        var both = DataplaneProcess.Run(["leases", "--lease-dir", dir["leases"], "--etcd-prefix", "/x"], TimeSpan.FromSeconds(30));
        Assert.That((both.Exit, both.Err.Contains("--etcd-prefix cannot be used", StringComparison.Ordinal)), Is.EqualTo((2, true)), both.Err);
        var halfCert = DataplaneProcess.Run(["leases", "--etcd-certfile", dir["c.pem"]], TimeSpan.FromSeconds(30));
        Assert.That((halfCert.Exit, halfCert.Err.Contains("go together", StringComparison.Ordinal)), Is.EqualTo((2, true)), halfCert.Err);

        var sw = Stopwatch.StartNew();
        var down = DataplaneProcess.Run(["leases", "--etcd-endpoints=http://127.0.0.1:9"], TimeSpan.FromSeconds(90));
        TestContext.Out.WriteLine($"after {sw.ElapsedMilliseconds} ms: {down.Err}");
        Assert.That((down.Exit, down.Out), Is.EqualTo((1, "")), down.Err);
        Assert.That(down.Err.Trim(), Does.StartWith("dataplane: cannot list the leases").And.Contain("127.0.0.1:9").And.Not.Contain("\n"));
    }

    /// <summary>A user whose role may read and write only under the prefix (what an operator gives flanneld).</summary>
    internal static void AddFlannelUser(EtcdCluster etcd, string prefix)
    {
        etcd.Ctl("role", "add", "flannel").Check("role add");
        etcd.Ctl("role", "grant-permission", "flannel", "--prefix=true", "readwrite", prefix + "/").Check("grant-permission");
        etcd.Ctl("user", "add", "flannel:s3cret").Check("user add");
        etcd.Ctl("user", "grant-role", "flannel", "flannel").Check("grant-role");
        etcd.EnableAuth("r00t");
    }

    /// <summary>The first call the daemon makes fails with a <see cref="ControlException"/> in bounded time; its message.</summary>
    private static async Task<string> FailsClearlyAsync(EtcdSubnetRegistry store)
    {
        var sw = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(ClearErrorWithin);
        Exception? thrown = null;
        try
        {
            await store.GetNetworkConfigAsync(cts.Token);
        }
        catch (Exception e)
        {
            thrown = e;
        }
        TestContext.Out.WriteLine($"after {sw.ElapsedMilliseconds} ms: {thrown?.GetType().Name}: {thrown?.Message}");
        Assert.That(thrown, Is.InstanceOf<ControlException>(), $"a configuration error, not a retry until cancelled: {thrown}");
        Assert.That(thrown!.Message, Does.Not.Contain("\n"), "one line");
        return thrown.Message;
    }

    /// <summary>The store's log lines in the test output (what an operator would read).</summary>
    private sealed class ProgressLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            TestContext.Progress.WriteLine($"[{logLevel}] {formatter(state, exception)}");
    }
}
