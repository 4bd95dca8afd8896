using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

/// <summary>
/// A tcpdump capture inside a namespace, bounded in packets and time. Returns the captured frames
/// (Ethernet, from the pcap file).
/// </summary>
internal sealed class Capture : IDisposable
{
    private readonly Process _process;
    private readonly string _file;

    private Capture(Process process, string file)
    {
        _process = process;
        _file = file;
    }

    public static Capture Start(string ns, string device, string filter, int count, int timeoutSeconds = 15)
    {
        Prerequisites.RequireTool("tcpdump");
        var file = Path.Combine(Path.GetTempPath(), $"dpt-{Guid.NewGuid():N}.pcap");
        var psi = new ProcessStartInfo(Prerequisites.FindTool("timeout") ?? "timeout")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "ip", "netns", "exec", ns, "tcpdump", "-i", device, "-n", "-U", "-w", file, "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        foreach (var part in filter.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            psi.ArgumentList.Add(part);
        var process = Process.Start(psi)!;
        // tcpdump says "listening on …" on stderr once the capture socket is open.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var line = process.StandardError.ReadLine();
            if (line is null)
                throw new InvalidOperationException("tcpdump exited before listening");
            if (line.Contains("listening on", StringComparison.Ordinal))
                break;
        }
        return new Capture(process, file);
    }

    /// <summary>Waits for tcpdump to finish (count reached or timeout) and returns the frames.</summary>
    public List<byte[]> Finish()
    {
        if (!_process.WaitForExit(20_000))
            _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        return ReadPcap(_file);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
        File.Delete(_file);
    }

    private static List<byte[]> ReadPcap(string file)
    {
        var frames = new List<byte[]>();
        if (!File.Exists(file))
            return frames;
        var bytes = File.ReadAllBytes(file);
        if (bytes.Length < 24)
            return frames;
        bool little = BinaryPrimitives.ReadUInt32LittleEndian(bytes) is 0xA1B2C3D4 or 0xA1B23C4D;
        int offset = 24;
        while (offset + 16 <= bytes.Length)
        {
            var caplen = little ? BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 8)) : BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset + 8));
            offset += 16;
            if (offset + caplen > bytes.Length)
                break;
            frames.Add(bytes.AsSpan(offset, caplen).ToArray());
            offset += caplen;
        }
        return frames;
    }
}
