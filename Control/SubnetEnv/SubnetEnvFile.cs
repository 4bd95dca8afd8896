using System.Globalization;
using System.Text;
using Control.Config;
using Dataplane.Packets;

namespace Control.SubnetEnv;

/// <summary>
/// <c>/run/flannel/subnet.env</c>, the file the flannel CNI plugin reads. Written as flannel's
/// <c>WriteSubnetFile</c> writes it: these four lines in this order, each ending in '\n', replaced atomically
/// (temp file + rename, mode 0644) so the CNI plugin never reads half a file:
/// <code>
/// FLANNEL_NETWORK=10.244.0.0/16
/// FLANNEL_SUBNET=10.244.1.1/24
/// FLANNEL_MTU=1472
/// FLANNEL_IPMASQ=false
/// </code>
/// </summary>
internal static class SubnetEnvFile
{
    /// <summary>flanneld's default path.</summary>
    public const string DefaultPath = "/run/flannel/subnet.env";

    /// <summary>The file's exact text.</summary>
    public static string Render(NetworkConfig config, Ipv4Prefix subnet, int mtu, bool ipMasq)
    {
        var firstUsable = new Ipv4Address(subnet.Address.Value + 1);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"FLANNEL_NETWORK={config.Network}\n");
        sb.Append(CultureInfo.InvariantCulture, $"FLANNEL_SUBNET={firstUsable}/{subnet.Length}\n");
        sb.Append(CultureInfo.InvariantCulture, $"FLANNEL_MTU={mtu}\n");
        sb.Append(ipMasq ? "FLANNEL_IPMASQ=true\n" : "FLANNEL_IPMASQ=false\n");
        return sb.ToString();
    }

    /// <summary>Writes <paramref name="contents"/> to <paramref name="path"/> atomically, creating its directory (0755) as flannel does.</summary>
    public static void Write(string path, string contents)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            }))
            {
                stream.Write(Encoding.UTF8.GetBytes(contents));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new ControlException($"cannot write subnet file {path}: {e.Message}");
        }
    }

    /// <summary>Fails now, with one clear line, if <paramref name="path"/> could not be written later.</summary>
    public static void CheckWritable(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var probe = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.probe");
        try
        {
            if (Directory.Exists(full))
                throw new IOException("it is a directory");
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(probe);
            throw new ControlException($"cannot write subnet file {path}: {e.Message}");
        }
    }

    /// <summary>
    /// The previous FLANNEL_SUBNET, parsed as a CIDR (host bits cleared: 10.244.1.1/24 → 10.244.1.0/24), as
    /// flanneld's <c>ReadCIDRFromSubnetFile</c> does. Null when the file or the key is missing or unparsable.
    /// </summary>
    public static Ipv4Prefix? ReadPreviousSubnet(string path)
    {
        string[] lines;
        try
        {
            if (!File.Exists(path))
                return null;
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.StartsWith("export ", StringComparison.Ordinal))
                line = line[7..].TrimStart();
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0 || line[..eq].Trim() != "FLANNEL_SUBNET")
                continue;
            var value = line[(eq + 1)..].Trim().Trim('"', '\'');
            // godotenv values may be comma-separated lists; the first entry is the IPv4 subnet.
            value = value.Split(',')[0].Trim();
            return Ipv4Prefix.TryParse(value, out var prefix) ? prefix : null;
        }
        return null;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
