using System.Diagnostics;
using System.Globalization;
using PacketDotNet;
using SharpPcap;
using SharpPcap.LibPcap;

namespace Dataplane.Testing;

/// <summary>
/// A bounded tcpdump capture inside a network namespace, written to a pcap file and read back with SharpPcap, so the
/// frames can be decoded by PacketDotNet (an independent decoder). tcpdump captures because it runs inside the namespace
/// with <c>ip netns exec</c>; it stops at <c>count</c> packets, at the timeout, or at <see cref="Stop"/>.
/// </summary>
public sealed class PcapCapture : IDisposable
{
    private readonly Process _process;
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"dpt-{Guid.NewGuid():N}.pcap");

    private PcapCapture(string ns, string device, string filter, int? count, TimeSpan timeout)
    {
        Prerequisites.RequireTool("tcpdump");
        var psi = new ProcessStartInfo(Prerequisites.FindTool("ip") ?? "ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        var args = new List<string> { "netns", "exec", ns, "timeout", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture), "tcpdump", "-U", "-n", "-i", device, "-w", _file };
        if (count is int c)
            args.AddRange(["-c", c.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(filter.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        // tcpdump says "listening on" once its socket is open; packets sent before that are not seen.
        var ready = new TaskCompletionSource();
        _process.ErrorDataReceived += (_, e) => { if (e.Data?.Contains("listening on", StringComparison.Ordinal) == true) ready.TrySetResult(); };
        _process.BeginErrorReadLine();
        if (!ready.Task.Wait(TimeSpan.FromSeconds(10)))
            throw new TimeoutException("tcpdump did not start listening within 10 s");
    }

    /// <summary>Starts capturing on <paramref name="device"/> in <paramref name="ns"/> with a tcpdump filter expression.</summary>
    public static PcapCapture Start(string ns, string device, string filter, int? count = null, TimeSpan? timeout = null) =>
        new(ns, device, filter, count, timeout ?? TimeSpan.FromSeconds(15));

    /// <summary>Waits for tcpdump to stop by itself (count reached or timeout) and returns the decoded frames.</summary>
    public List<Packet> Finish()
    {
        if (!_process.WaitForExit(30_000))
            _process.Kill(true);
        _process.WaitForExit();
        return Read();
    }

    /// <summary>Stops the capture now (SIGINT, so tcpdump flushes) and returns the decoded frames.</summary>
    public List<Packet> Stop()
    {
        if (!_process.HasExited)
        {
            Sh.Run("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            if (!_process.WaitForExit(5000))
                _process.Kill(true);
        }
        _process.WaitForExit();
        return Read();
    }

    private List<Packet> Read()
    {
        var frames = new List<Packet>();
        if (!File.Exists(_file) || new FileInfo(_file).Length < 24)
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

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_process.HasExited)
            try { _process.Kill(true); } catch (InvalidOperationException) { }
        _process.Dispose();
        File.Delete(_file);
    }
}
