using Control.Commands;
using Control.Daemon;

namespace Control.Tests;

/// <summary>The whole CLI in-process: flag syntax, environment, and every bad-input path (exit code + one stderr line).</summary>
public class CliTests
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

    private (int Exit, string Out, string Err) Cli(string[] args, Dictionary<string, string>? env = null, CancellationToken? shutdown = null, TextWriter? log = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext
        {
            Out = output,
            Error = error,
            Environment = name => env is not null && env.TryGetValue(name, out var v) ? v : null,
            Host = FakeHost.Standard(),
            // In-process runs happen in the root namespace: never the real TUN data path here.
            DataPaths = new LoggingDataPath.Factory(),
            Logging = log is not null,
            LogOutput = log,
            Shutdown = shutdown ?? new CancellationToken(canceled: true),
        };
        int exit = Commands.Cli.Run(args, context);
        return (exit, output.ToString(), error.ToString());
    }

    private string[] Base(params string[] extra) =>
        ["acquire", "--lease-dir", _dir["leases"], "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["net.json"], .. extra];

    [Test]
    public void Acquire_in_go_syntax_writes_subnet_env_in_flannels_order()
    {
        var (exit, stdout, stderr) = Cli(["acquire", $"-lease-dir={_dir["leases"]}", "-subnet-file", _dir["subnet.env"], $"--net-config-path={_dir["net.json"]}", "-ip-masq", "-iface", "eth1", "-v"]);
        Assert.That(exit, Is.Zero, stderr);
        var subnet = stdout.Trim();
        var expected = $"FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET={subnet.Replace(".0/", ".1/", StringComparison.Ordinal)}\nFLANNEL_MTU=8973\nFLANNEL_IPMASQ=true\n";
        Assert.That(File.ReadAllText(_dir["subnet.env"]), Is.EqualTo(expected));
    }

    [Test]
    public void Environment_sets_flags_and_the_command_line_wins()
    {
        var env = new Dictionary<string, string>
        {
            ["FLANNELD_LEASE_DIR"] = _dir["leases"],
            ["FLANNELD_SUBNET_FILE"] = _dir["subnet.env"],
            ["FLANNELD_NET_CONFIG_PATH"] = _dir["net.json"],
            ["FLANNELD_IFACE"] = "eth0",
            ["FLANNELD_IP_MASQ"] = "true",
            ["FLANNELD_PUBLIC_IP"] = "not-an-ip",
        };
        var (exit, _, stderr) = Cli(["acquire", "--public-ip=198.18.0.50", "--ip-masq=false"], env);
        Assert.That(exit, Is.Zero, stderr);
        Assert.That(File.ReadAllText(_dir["subnet.env"]), Does.Contain("FLANNEL_MTU=1472\n").And.Contain("FLANNEL_IPMASQ=false\n"));
        Assert.That(File.ReadAllText(Directory.GetFiles(_dir["leases/subnets"]).Single(f => !Path.GetFileName(f).StartsWith('.'))), Is.EqualTo("""{"PublicIP":"198.18.0.50","PublicIPv6":null}"""));
    }

    [Test]
    public void Without_etcd_flags_the_store_is_flanneld_s_default_etcd_and_FLANNELD_ETCD_variables_are_read()
    {
        // The daemon logs the store it opened before it contacts it; the shutdown token (already cancelled) stops it
        // right after, so nothing needs to listen on the endpoints.
        string[] run = ["run", "--iface", "eth0", "--subnet-file", _dir["subnet.env"], "--unsafe-control-only"];
        var defaults = new StringWriter();
        var (exit, _, stderr) = Cli(run, log: defaults);
        Assert.That(exit, Is.Zero, stderr + defaults);
        // flanneld's main.go: etcd-endpoints "http://127.0.0.1:4001,http://127.0.0.1:2379", etcd-prefix "/coreos.com/network".
        Assert.That(defaults.ToString(), Does.Contain("Using the etcd lease store at http://127.0.0.1:4001,http://127.0.0.1:2379, prefix /coreos.com/network"), defaults.ToString());

        var env = new Dictionary<string, string>
        {
            ["FLANNELD_ETCD_ENDPOINTS"] = "http://198.18.0.10:2379,http://198.18.0.11:2379",
            ["FLANNELD_ETCD_PREFIX"] = "/example.com/net",
        };
        var fromEnv = new StringWriter();
        (exit, _, stderr) = Cli(run, env, log: fromEnv);
        Assert.That(exit, Is.Zero, stderr + fromEnv);
        Assert.That(fromEnv.ToString(), Does.Contain("Using the etcd lease store at http://198.18.0.10:2379,http://198.18.0.11:2379, prefix /example.com/net"), fromEnv.ToString());

        // The command line wins over the variables, as for every other flag.
        var both = new StringWriter();
        (exit, _, stderr) = Cli([.. run, "--etcd-prefix=/cli/net"], env, log: both);
        Assert.That(exit, Is.Zero, stderr + both);
        Assert.That(both.ToString(), Does.Contain("http://198.18.0.10:2379,http://198.18.0.11:2379, prefix /cli/net"), both.ToString());

        // And `acquire` (same reader) refuses a bad endpoint from the environment like one from the command line.
        var bad = Cli(["acquire", "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["net.json"]], new Dictionary<string, string> { ["FLANNELD_ETCD_ENDPOINTS"] = "127.0.0.1:2379" });
        Assert.That(bad.Exit, Is.EqualTo(2), bad.Err);
        Assert.That(bad.Err, Does.Contain("invalid --etcd-endpoints entry '127.0.0.1:2379'"));
    }

    [Test]
    public void Run_stops_cleanly_on_shutdown()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var args = Base();
        args[0] = "run";
        var (exit, _, stderr) = Cli(args, shutdown: cts.Token);
        Assert.That(exit, Is.Zero, stderr);
        Assert.That(File.Exists(_dir["subnet.env"]), Is.True);
    }

    [Test]
    public void Help_and_version()
    {
        var (exit, stdout, _) = Cli(["run", "-help"]);
        Assert.That(exit, Is.Zero);
        Assert.That(stdout, Does.Contain("--iface").And.Contain("--lease-dir").And.Contain("--unsafe-lease-ttl"));
        Assert.That(Cli(["leases", "--help"]).Out, Does.Contain("--lease-dir"));
        var version = Cli(["--version"]);
        Assert.That((version.Exit, version.Out), Is.EqualTo((0, version.Out)));
        Assert.That(version.Out, Does.Match(@"^\d+\.\d+\.\d+"));
    }

    [Test]
    public void Lab_io_mode_is_checked_before_anything_is_built()
    {
        // A typo must fail before any namespace exists (the state dir is a fresh one: nothing may appear in it).
        var stateDir = _dir["lab-state"];
        var (exit, _, err) = Cli(["lab", "up", "--io", "fast", "--state-dir", stateDir]);
        Assert.That(exit, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("invalid --io 'fast'"));
        Assert.That(Directory.Exists(stateDir), Is.False, "nothing built for a refused command line");
    }

    [Test]
    public void Without_a_verb_the_arguments_are_flanneld_s_and_the_daemon_runs()
    {
        // flanneld's argv, no verb: parsed as `run` (a bad flag is refused by run's rules, exit 2; flanneld flags we
        // do not implement are named).
        var bad = Cli(["--ip-masq", "--kube-subnet-mgr"]);
        Assert.That(bad.Exit, Is.EqualTo(2), bad.Err);
        Assert.That(bad.Err, Does.Contain("--kube-subnet-mgr"));
        var unknown = Cli(["-iface=eth0", "--definitely-not-a-flag"]);
        Assert.That(unknown.Exit, Is.EqualTo(2));
        Assert.That(unknown.Err, Does.Contain("--definitely-not-a-flag"));
        // A valid flanneld command line runs until the shutdown token (already cancelled here) stops it.
        var (exit, _, err) = Cli([$"-lease-dir={_dir["leases"]}", "-subnet-file", _dir["subnet.env"], $"--net-config-path={_dir["net.json"]}", "-iface", "eth0", "--unsafe-control-only"]);
        Assert.That(exit, Is.Zero, err);
        Assert.That(Cli(["--version"]).Exit, Is.Zero, "--version stays a root flag");
    }

    private static IEnumerable<TestCaseData> BadInputs()
    {
        // (args after the base flags, expected exit, expected text)
        yield return new TestCaseData(new[] { "--bogus" }, 2, "unknown flag --bogus").SetName("unknown flag");
        yield return new TestCaseData(new[] { "--kube-subnet-mgr" }, 2, "--kube-subnet-mgr is not supported yet: use --lease-dir or etcd").SetName("kube subnet manager");
        yield return new TestCaseData(new[] { "-healthz-port=80801" }, 2, "invalid --healthz-port '80801'").SetName("healthz port");
        yield return new TestCaseData(new[] { "--healthz-ip", "localhost" }, 2, "invalid --healthz-ip 'localhost'").SetName("healthz ip");
        yield return new TestCaseData(new[] { "--public-ipv6", "fc00::1" }, 2, "--public-ipv6 is not supported yet").SetName("public ipv6");
        yield return new TestCaseData(new[] { "--etcd-endpoints", "http://x:2379" }, 2, "contradictory flags: --lease-dir").SetName("lease dir with etcd");
        yield return new TestCaseData(new[] { "--public-ip", "1.2.3" }, 2, "invalid --public-ip '1.2.3'").SetName("bad public ip");
        yield return new TestCaseData(new[] { "--subnet-lease-renew-margin", "0" }, 2, "between 1 and 1439").SetName("renew margin 0");
        yield return new TestCaseData(new[] { "--subnet-lease-renew-margin=1440" }, 2, "between 1 and 1439").SetName("renew margin 1440");
        yield return new TestCaseData(new[] { "--ip-masq=maybe" }, 2, "invalid boolean value \"maybe\"").SetName("bad bool");
        yield return new TestCaseData(new[] { "--io", "batched" }, 2, "invalid --io 'batched'").SetName("bad io mode");
        yield return new TestCaseData(new[] { "--io", "per-packet", "--udp-gso=false" }, 2, "contradictory flags: --io per-packet uses no offloads, so --udp-gso=false").SetName("offload flag in per-packet mode");
        yield return new TestCaseData(new[] { "--tun-tso=perhaps" }, 2, "invalid boolean value \"perhaps\"").SetName("bad offload bool");
        yield return new TestCaseData(new[] { "--iptables-resync", "0" }, 2, "invalid --iptables-resync '0'").SetName("iptables resync 0");
        yield return new TestCaseData(new[] { "-iptables-resync=soon" }, 2, "invalid --iptables-resync 'soon'").SetName("iptables resync not a number");
        yield return new TestCaseData(new[] { "--unsafe-lease-ttl", "soon" }, 2, "invalid --unsafe-lease-ttl").SetName("bad ttl");
        yield return new TestCaseData(new[] { "--iface-regex", "(" }, 2, "invalid --iface-regex").SetName("bad regex");
        yield return new TestCaseData(new[] { "stray" }, 2, "takes no arguments").SetName("positional argument");
        yield return new TestCaseData(new[] { "--iface" }, 2, "flag needs an argument: --iface").SetName("missing value");
        yield return new TestCaseData(new[] { "--iface", "wlan7" }, 1, "no interface named wlan7").SetName("unknown interface");
    }

    [TestCaseSource(nameof(BadInputs))]
    public void Bad_flags_give_one_clear_line_and_non_zero_exit(string[] extra, int exitCode, string message)
    {
        var (exit, _, stderr) = Cli(Base(extra));
        Assert.That(exit, Is.EqualTo(exitCode), stderr);
        Assert.That(stderr, Does.Contain(message));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), stderr);
        Assert.That(File.Exists(_dir["subnet.env"]), Is.False, "nothing written on bad input");
    }

    [TestCase("--etcd-endpoints=127.0.0.1:2379", "invalid --etcd-endpoints entry '127.0.0.1:2379'")]
    [TestCase("--etcd-endpoints=ftp://127.0.0.1:2379", "invalid --etcd-endpoints entry 'ftp://127.0.0.1:2379'")]
    [TestCase("--etcd-certfile=/nonexistent/c.pem", "--etcd-certfile and --etcd-keyfile go together")]
    public void Without_lease_dir_etcd_is_the_store_and_its_flags_are_checked(string flag, string message)
    {
        var (exit, _, stderr) = Cli(["acquire", flag, "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["net.json"]]);
        Assert.That(exit, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain(message));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), stderr);
    }

    [Test]
    public void Etcd_tls_files_that_cannot_be_read_are_one_clear_error()
    {
        var (exit, _, stderr) = Cli(["acquire", "--etcd-endpoints=https://127.0.0.1:1", "--etcd-cafile", _dir["missing-ca.pem"],
            "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["net.json"]]);
        Assert.That(exit, Is.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("cannot load the etcd TLS files"));
    }

    [TestCase("""{"Network":"10.244.0.0/16",""", "invalid JSON")]
    [TestCase("""{"Network":"10.244.0.0/30"}""", "network is too small")]
    [TestCase("""{"Network":"10.244.0.0/16","SubnetLen":17}""", "at least four subnets")]
    [TestCase("""{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}""", "\"wireguard\" is not supported")]
    public void Bad_config_files(string json, string message)
    {
        _dir.Write("net.json", json);
        var (exit, _, stderr) = Cli(Base());
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain(_dir["net.json"]).And.Contain(message));
    }

    [Test]
    public void Unreadable_config_disagreeing_configs_and_unusable_paths()
    {
        Assert.That(Cli(["acquire", "--lease-dir", _dir["leases"], "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["nope.json"]]).Err,
            Does.Contain("cannot read network config"));
        _dir.Write("leases/config", """{"Network":"10.9.0.0/16"}""");
        var (exit, _, stderr) = Cli(Base());
        Assert.That((exit, stderr.Contains("disagree", StringComparison.Ordinal)), Is.EqualTo((1, true)), stderr);
        File.Delete(_dir["leases/config"]);

        var file = _dir.Write("afile", "x");
        var badDir = Cli(["acquire", "--lease-dir", Path.Combine(file, "leases"), "--subnet-file", _dir["subnet.env"], "--net-config-path", _dir["net.json"]]);
        Assert.That((badDir.Exit, badDir.Err.Contains("is not usable", StringComparison.Ordinal)), Is.EqualTo((1, true)), badDir.Err);
        var badEnv = Cli(["acquire", "--lease-dir", _dir["leases"], "--subnet-file", Path.Combine(file, "subnet.env"), "--net-config-path", _dir["net.json"]]);
        Assert.That((badEnv.Exit, badEnv.Err.Contains("cannot write subnet file", StringComparison.Ordinal)), Is.EqualTo((1, true)), badEnv.Err);
        Assert.That(Directory.GetFiles(_dir["leases/subnets"]).Where(f => !Path.GetFileName(f).StartsWith('.')), Is.Empty, "no lease taken when subnet.env cannot be written");
    }

    [Test]
    public void Full_network_and_corrupt_own_lease()
    {
        _dir.Write("net.json", """{"Network":"10.0.0.0/28"}""");
        foreach (var n in new[] { 4, 8, 12 })
            _dir.Write($"leases/subnets/10.0.0.{n}-30", $$"""{"PublicIP":"198.18.9.{{n}}","PublicIPv6":null}""");
        var full = Cli(Base("--public-ip", "198.18.0.1"));
        Assert.That((full.Exit, full.Err.Contains("out of subnets", StringComparison.Ordinal)), Is.EqualTo((1, true)), full.Err);

        _dir.Write("leases/subnets/.meta/10.0.0.4-30", """{"Expiration":"2999-01-01T00:00:00.000Z","PublicIP":"198.18.0.1","Pid":1}""");
        File.WriteAllText(_dir["leases/subnets/10.0.0.4-30"], "{oops");
        var corrupt = Cli(Base("--public-ip", "198.18.0.1"));
        Assert.That((corrupt.Exit, corrupt.Err.Contains("our own lease 10.0.0.4-30", StringComparison.Ordinal)), Is.EqualTo((1, true)), corrupt.Err);
    }

    [Test]
    public void Leases_lists_the_store()
    {
        Assert.That(Cli(Base("--public-ip", "198.18.0.1")).Exit, Is.Zero);
        _dir.Write("leases/subnets/10.244.99.0-24", """{"PublicIP":"198.18.0.99","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:99"}}""");
        var (exit, stdout, _) = Cli(["leases", "-lease-dir", _dir["leases"]]);
        Assert.That(exit, Is.Zero);
        Assert.That(stdout, Does.Contain("198.18.0.1 ").And.Contain("10.244.99.0/24").And.Contain("vxlan").And.Contain("never (static)"));
        Assert.That(Cli(["leases", "--lease-dir", _dir["nope"]]).Exit, Is.EqualTo(1));
    }

    [Test]
    public void Go_duration_parsing()
    {
        Assert.That(GoDuration.TryParse("5s", out var a) ? a : default, Is.EqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(GoDuration.TryParse("1m30s", out var b) ? b : default, Is.EqualTo(TimeSpan.FromSeconds(90)));
        Assert.That(GoDuration.TryParse("1.5h", out var c) ? c : default, Is.EqualTo(TimeSpan.FromMinutes(90)));
        Assert.That(GoDuration.TryParse("250ms", out var d) ? d : default, Is.EqualTo(TimeSpan.FromMilliseconds(250)));
        Assert.That(GoDuration.TryParse("5", out _), Is.False);
        Assert.That(GoDuration.TryParse("5 s", out _), Is.False);
    }

    [Test]
    public void Default_io_mode_is_batch_with_every_offload()
    {
        Assert.That(new RunOptions().Io, Is.EqualTo(IoMode.Batch));
        Assert.That(new RunOptions().Offloads, Is.EqualTo(new OffloadOptions(TunTso: true, TunUso: true, UdpGso: true, Mmsg: true, UdpGro: true)));
        Assert.That(new OffloadOptions(UdpGso: false, Mmsg: false).Disabled, Is.EqualTo("udp-gso,mmsg"));
    }
}
