using System.Diagnostics;
using Control.Interfaces;
using Dataplane.Packets;

namespace Control.Tests;

/// <summary>A temp directory deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("control-tests-").FullName;

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public string Write(string relative, string text)
    {
        var p = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        File.WriteAllText(p, text);
        return p;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A clock the test moves by hand (only GetUtcNow is used by the code under test).</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}

/// <summary>Fake interfaces for interface selection.</summary>
internal sealed class FakeHost(string? defaultRoute, params HostInterface[] interfaces) : IHostInterfaces
{
    public IReadOnlyList<HostInterface> List() => interfaces;

    public string? DefaultRouteInterface() => defaultRoute;

    public static HostInterface Nic(string name, int mtu, params string[] addresses) =>
        new(name, mtu, addresses.Select(Ipv4Address.Parse).ToList());

    /// <summary>eth0 198.18.0.1 MTU 1500 (default route), eth1 198.18.1.1 jumbo, lo.</summary>
    public static FakeHost Standard() => new("eth0",
        Nic("lo", 65536, "127.0.0.1"),
        Nic("eth0", 1500, "198.18.0.1", "198.18.0.100"),
        Nic("eth1", 9001, "198.18.1.1"));
}

/// <summary>Runs the built daemon as a real process.</summary>
internal static class DataplaneProcess
{
    /// <summary>Path of Dataplane.Control.dll (copied next to the tests by the project reference).</summary>
    public static string Dll
    {
        get
        {
            var local = System.IO.Path.Combine(AppContext.BaseDirectory, "Dataplane.Control.dll");
            Assert.That(File.Exists(local), Is.True, $"{local} missing");
            return local;
        }
    }

    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("FLANNELD_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        return psi;
    }

    /// <summary>Runs to completion (bounded) and returns exit code, stdout, stderr.</summary>
    public static (int Exit, string Out, string Err) Run(IEnumerable<string> args, TimeSpan? timeout = null)
    {
        using var p = Process.Start(StartInfo(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("dataplane did not exit in time");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>Synchronous forms of the asynchronous lease API, for tests that run one step at a time.</summary>
internal static class LeaseTestExtensions
{
    /// <summary><see cref="Leases.LeaseAcquirer.AcquireAsync"/>, waited for.</summary>
    public static Leases.Lease Acquire(this Leases.LeaseAcquirer acquirer, Config.NetworkConfig config, Leases.LeaseAttributes attributes, Dataplane.Packets.Ipv4Prefix? previous, TimeSpan ttl) =>
        acquirer.AcquireAsync(config, attributes, previous, ttl, CancellationToken.None).GetAwaiter().GetResult();
}
