using System.Diagnostics;
using Dataplane.Testing;
using PacketDotNet;
using SharpPcap;
using SharpPcap.LibPcap;

namespace Dataplane.Tun.Tests.Kernel;

/// <summary>
/// A bounded tcpdump capture inside a namespace, read back with SharpPcap and decoded by PacketDotNet (an
/// independent decoder). tcpdump is used to capture because it runs inside the namespace with `ip netns exec`.
/// </summary>
internal sealed class Capture : IDisposable
{
    private readonly Process _process;
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"dpt-{Guid.NewGuid():N}.pcap");

    public Capture(string ns, string iface, string filter, int count, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(Prerequisites.FindTool("ip") ?? "ip")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "netns", "exec", ns, "timeout", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "tcpdump", "-U", "-n", "-i", iface, "-w", _file, "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        foreach (var word in filter.Split(' '))
            psi.ArgumentList.Add(word);
        _process = Process.Start(psi)!;
        // tcpdump says "listening on" once the socket is open; packets sent before that are lost.
        var ready = new TaskCompletionSource();
        _process.ErrorDataReceived += (_, e) => { if (e.Data?.Contains("listening on", StringComparison.Ordinal) == true) ready.TrySetResult(); };
        _process.BeginErrorReadLine();
        if (!ready.Task.Wait(TimeSpan.FromSeconds(10)))
            throw new TimeoutException("tcpdump did not start listening within 10 s");
    }

    /// <summary>Waits for tcpdump to finish (count reached or timeout) and returns the decoded frames.</summary>
    public List<Packet> Frames()
    {
        _process.WaitForExit(30_000);
        var frames = new List<Packet>();
        if (!File.Exists(_file))
            return frames;
        using var reader = new CaptureFileReaderDevice(_file);
        reader.Open();
        while (reader.GetNextPacket(out var capture) == GetPacketStatus.PacketRead)
        {
            var raw = capture.GetPacket();
            frames.Add(Packet.ParsePacket(raw.LinkLayerType, raw.Data));
        }
        return frames;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            try { _process.Kill(true); } catch (InvalidOperationException) { }
        _process.Dispose();
        File.Delete(_file);
    }
}
