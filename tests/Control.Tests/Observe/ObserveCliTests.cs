using System.Text.Json;
using Control.Commands;
using Control.Daemon;

namespace Control.Tests.Observe;

/// <summary>
/// The client verbs in-process: against a control-only daemon's socket (no root needed), and every bad-input path
/// (exit 2 naming the problem; no daemon at the socket: exit 1 with a clear message).
/// </summary>
public class ObserveCliTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _dir.Write("net.json", """{"Network":"10.244.0.0/16"}""");
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static (int Exit, string Out, string Err) Cli(string[] args, CancellationToken? shutdown = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext
        {
            Out = output,
            Error = error,
            Environment = _ => null,
            Host = FakeHost.Standard(),
            DataPaths = new LoggingDataPath.Factory(),
            Logging = false,
            Shutdown = shutdown ?? new CancellationToken(canceled: true),
        };
        int exit = Commands.Cli.Run(args, context);
        return (exit, output.ToString(), error.ToString());
    }

    [Test]
    public void Status_and_routes_answer_from_a_running_daemon_and_the_socket_is_root_only_and_removed_at_exit()
    {
        var socket = _dir["control.sock"];
        using var stop = new CancellationTokenSource();
        // flanneld's argv, no verb.
        var daemon = Task.Run(() => Cli(["--lease-dir", _dir["leases"], "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["net.json"],
            "--unsafe-control-only", "--control-socket", socket], stop.Token));
        try
        {
            Assert.That(Lab.LabTesting.Poll(() => File.Exists(_dir["subnet.env"]) && File.Exists(socket), TimeSpan.FromSeconds(30)), Is.Not.Null,
                daemon.IsCompleted ? daemon.Result.Err : "daemon not up");
            Assert.That(File.GetUnixFileMode(socket), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            var (exit, stdout, stderr) = Cli(["status", "--control-socket", socket, "--json"]);
            Assert.That(exit, Is.Zero, stderr);
            var status = JsonDocument.Parse(stdout).RootElement;
            Assert.That(status.GetProperty("subnet").GetString(), Does.StartWith("10.244."));
            Assert.That(status.GetProperty("network").GetString(), Is.EqualTo("10.244.0.0/16"));
            Assert.That(status.GetProperty("backend").GetString(), Is.EqualTo("udp"));
            var human = Cli(["status", $"-control-socket={socket}"]);
            Assert.That(human.Exit, Is.Zero, human.Err);
            Assert.That(human.Out, Does.Contain("backend udp").And.Contain("(no peers)"));
            var routes = Cli(["routes", "--control-socket", socket]);
            Assert.That(routes.Exit, Is.Zero, routes.Err);
            Assert.That(routes.Out, Does.Contain("(no routes)"));
            var drops = Cli(["drops", "--control-socket", socket]);
            Assert.That((drops.Exit, drops.Out), Is.EqualTo((0, "REASON                       COUNT\n(no drops)\n")), drops.Err);
            var follow = Cli(["drops", "--follow", "--control-socket", socket], CancellationToken.None);
            Assert.That(follow.Exit, Is.EqualTo(1), "no packet data path to follow");
            Assert.That(follow.Err, Does.Contain("no packet data path"));
        }
        finally
        {
            stop.Cancel();
            Assert.That(daemon.Wait(TimeSpan.FromSeconds(30)), Is.True);
        }
        Assert.That(daemon.Result.Exit, Is.Zero, daemon.Result.Err);
        Assert.That(File.Exists(socket), Is.False, "removed on exit");
        var gone = Cli(["status", "--control-socket", socket]);
        Assert.That(gone.Exit, Is.EqualTo(1));
        Assert.That(gone.Err.Trim(), Does.StartWith($"dataplane: no daemon at {socket}: no such socket"));
    }

    [Test]
    public void A_stale_socket_file_is_a_clear_error_for_the_client_and_replaced_by_the_daemon()
    {
        var socket = _dir["stale.sock"];
        // Bound and never listening: what a crashed daemon leaves (.NET would unlink the file if this socket were disposed).
        using var stale = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        stale.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socket));
        var (exit, _, stderr) = Cli(["status", "--control-socket", socket]);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain($"no daemon at {socket}: nobody is listening"));
        using var server = Control.Observe.ControlServer.Start(socket, new Control.Observe.DaemonInfo(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.That(server, Is.Not.Null);
        Assert.That(Cli(["status", "--control-socket", socket]).Exit, Is.Zero);
        var second = Assert.Throws<ControlException>(() => Control.Observe.ControlServer.Start(socket, new Control.Observe.DaemonInfo(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        Assert.That(second!.Message, Does.Contain("another daemon is serving it"));
    }

    [TestCase(new[] { "status", "--bogus" }, "--bogus")]
    [TestCase(new[] { "status", "--control-socket=" }, "--control-socket")]
    [TestCase(new[] { "drops", "--count", "3" }, "--count only goes with --follow")]
    [TestCase(new[] { "drops", "--follow", "--count", "x" }, "invalid --count 'x'")]
    [TestCase(new[] { "routes", "extra" }, "extra")]
    public void Bad_arguments_exit_2_naming_the_problem(string[] args, string named)
    {
        // --count is checked before connecting only once connected; give it a live socket so the usage error is what fails.
        var socket = _dir["live.sock"];
        using var server = Control.Observe.ControlServer.Start(socket, new Control.Observe.DaemonInfo(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var full = args.Any(a => a.StartsWith("--control-socket", StringComparison.Ordinal)) ? args : [.. args, "--control-socket", socket];
        var (exit, _, stderr) = Cli(full);
        Assert.That(exit, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain(named));
    }
}
