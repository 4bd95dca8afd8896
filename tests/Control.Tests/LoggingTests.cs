using System.Text.Json;
using System.Text.RegularExpressions;
using Control.Commands;
using Control.Daemon;
using Microsoft.Extensions.Logging;

namespace Control.Tests;

/// <summary>The daemon's log lines: klog's header (what flanneld operators' tooling parses), -v gating, JSON.</summary>
public partial class LoggingTests
{
    // klog's header (kubernetes/klog internal/buffer/buffer.go): Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg.
    [GeneratedRegex(@"^(?<level>[IWEF])(?<mmdd>\d{4}) (?<time>\d{2}:\d{2}:\d{2}\.\d{6}) +(?<pid>\d+) (?<file>[^ :\]]+):(?<line>\d+)\] (?<msg>.*)$")]
    private static partial Regex KlogHeader();

    private static string[] Lines(int verbosity, LogFormat format, Action<ILogger> log)
    {
        var output = new StringWriter();
        using (var factory = Logging.Create(verbosity, enabled: true, format, output))
            log(factory.CreateLogger("dataplane.leases"));
        return output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Test]
    public void Klog_lines_carry_the_severity_letter_date_microseconds_pid_and_component()
    {
        var lines = Lines(0, LogFormat.Klog, l =>
        {
            l.LogInformation("Acquired lease {Subnet}", "10.244.3.0/24");
            l.LogWarning("peer {Peer} ignored", "198.18.0.9");
            l.LogError("renewal failed");
            l.LogCritical("internal error");
        });
        Assert.That(lines, Has.Length.EqualTo(4), string.Join('\n', lines));
        var matches = lines.Select(l => KlogHeader().Match(l)).ToList();
        Assert.That(matches.All(m => m.Success), Is.True, string.Join('\n', lines));
        Assert.That(matches.Select(m => m.Groups["level"].Value), Is.EqualTo(new[] { "I", "W", "E", "F" }));
        Assert.That(matches[0].Groups["msg"].Value, Is.EqualTo("Acquired lease 10.244.3.0/24"));
        Assert.That(matches[0].Groups["pid"].Value, Is.EqualTo(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(matches[0].Groups["file"].Value, Is.EqualTo("dataplane.leases"));
        Assert.That(lines[0][22..30], Does.Match(@"^ *\d+ $"), "the pid is right-aligned in 7 columns after the time, as klog");
        var now = DateTime.Now;
        Assert.That(matches[0].Groups["mmdd"].Value, Is.EqualTo(now.ToString("MMdd", System.Globalization.CultureInfo.InvariantCulture))
            .Or.EqualTo(now.AddMinutes(-1).ToString("MMdd", System.Globalization.CultureInfo.InvariantCulture)), "local time, as klog");
    }

    [TestCase(0, new[] { "info" })]
    [TestCase(1, new[] { "info", "debug" })]
    [TestCase(2, new[] { "info", "debug", "trace" })]
    [TestCase(5, new[] { "info", "debug", "trace" })]
    public void V_gates_debug_at_1_and_trace_at_2(int verbosity, string[] written)
    {
        var lines = Lines(verbosity, LogFormat.Klog, l =>
        {
            l.LogInformation("info");
            l.LogDebug("debug");
            l.LogTrace("trace");
        });
        Assert.That(lines.Select(l => KlogHeader().Match(l).Groups["msg"].Value), Is.EqualTo(written));
        Assert.That(lines.All(l => l[0] == 'I'), Is.True, "debug and trace are klog Info lines at V(1), V(2)");
    }

    [TestCase(new[] { "-v", "2" }, "--v=2")]
    [TestCase(new[] { "--v=2" }, "--v=2")]
    [TestCase(new[] { "-v=2" }, "--v=2")]
    [TestCase(new[] { "--v", "2" }, "--v=2")]
    [TestCase(new[] { "-v" }, "--v=1")]
    [TestCase(new[] { "-v", "--ip-masq" }, "--v=1")]
    public void V_takes_flanneld_spellings(string[] args, string canonical)
    {
        var normalized = GoFlagSyntax.Normalize("run", args, RunFlags.Flags, RunFlags.Unsupported, null);
        Assert.That(normalized[0], Is.EqualTo(canonical));
    }

    [Test]
    public void Json_lines_parse_with_ts_level_msg_and_the_message_fields()
    {
        var lines = Lines(1, LogFormat.Json, l =>
        {
            l.LogInformation("Acquired lease {Subnet} for {Seconds} s, renew {Renew}", "10.244.3.0/24", 86400, true);
            l.LogDebug("quote \" and newline\n inside");
            l.LogError(new InvalidOperationException("boom"), "failed");
        });
        Assert.That(lines, Has.Length.EqualTo(3), "one object per line, even with a newline in the message");
        var docs = lines.Select(l => JsonDocument.Parse(l)).ToList();
        var first = docs[0].RootElement;
        Assert.That(first.GetProperty("level").GetString(), Is.EqualTo("info"));
        Assert.That(first.GetProperty("msg").GetString(), Is.EqualTo("Acquired lease 10.244.3.0/24 for 86400 s, renew True"));
        Assert.That(first.GetProperty("logger").GetString(), Is.EqualTo("dataplane.leases"));
        Assert.That(first.GetProperty("Subnet").GetString(), Is.EqualTo("10.244.3.0/24"));
        Assert.That(first.GetProperty("Seconds").GetInt64(), Is.EqualTo(86400));
        Assert.That(first.GetProperty("Renew").GetBoolean(), Is.True);
        Assert.That(first.TryGetProperty("{OriginalFormat}", out _), Is.False);
        Assert.That(DateTimeOffset.Parse(first.GetProperty("ts").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
            Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
        Assert.That(docs[1].RootElement.GetProperty("msg").GetString(), Is.EqualTo("quote \" and newline\n inside"));
        Assert.That(docs[1].RootElement.GetProperty("level").GetString(), Is.EqualTo("debug"));
        Assert.That(docs[2].RootElement.GetProperty("error").GetString(), Does.Contain("boom"));
        foreach (var d in docs)
            d.Dispose();
    }

    private static (int Exit, string Err, string Log) Acquire(TempDir dir, params string[] extra)
    {
        var error = new StringWriter();
        var log = new StringWriter();
        var context = new CliContext
        {
            Out = new StringWriter(),
            Error = error,
            Environment = _ => null,
            Host = FakeHost.Standard(),
            DataPaths = new LoggingDataPath.Factory(),
            LogOutput = log,
        };
        int exit = Commands.Cli.Run(["acquire", "--lease-dir", dir["leases"], "--subnet-file", dir["subnet.env"], "--net-config-path", dir["net.json"], .. extra], context);
        return (exit, error.ToString(), log.ToString());
    }

    [Test]
    public void The_daemon_logs_klog_by_default_json_on_request_and_names_ignored_net_conf_keys_once()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16","EnableNFTables":false,"SubnetLength":26,"Backend":{"Type":"udp","Colour":1}}""");

        var (exit, err, log) = Acquire(dir);
        Assert.That(exit, Is.Zero, err);
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Is.Not.Empty);
        Assert.That(lines.Where(l => !KlogHeader().IsMatch(l)), Is.Empty, log);
        var warnings = lines.Where(l => l.Contains("SubnetLength", StringComparison.Ordinal)).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), log);
        Assert.That(warnings[0], Does.StartWith("W").And.EndWith("SubnetLength, Backend.Colour"));

        File.Delete(dir["subnet.env"]);
        (exit, err, log) = Acquire(dir, "--log-format=json", "-v=1");
        Assert.That(exit, Is.Zero, err);
        lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Is.Not.Empty);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.That(doc.RootElement.GetProperty("msg").GetString(), Is.Not.Empty, line);
        }
        Assert.That(lines.Count(l => l.Contains("\"level\":\"warning\"", StringComparison.Ordinal) && l.Contains("Backend.Colour", StringComparison.Ordinal)), Is.EqualTo(1), log);
    }

    [Test]
    public void An_unknown_log_format_is_a_usage_error_naming_it()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16"}""");
        var (exit, err, _) = Acquire(dir, "--log-format", "yaml");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--log-format 'yaml'"));
    }
}
