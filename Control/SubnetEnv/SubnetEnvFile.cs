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
    /// <remarks>
    /// The directory may be shared with other writers (/run/flannel), so the temp file must not be a door: it gets an
    /// unpredictable name and is opened with <see cref="FileMode.CreateNew"/>, which .NET maps to
    /// <c>open(O_CREAT|O_EXCL)</c>; with O_EXCL the kernel fails with EEXIST when anything, a symlink included (dangling
    /// or not), is already at that name, and never follows it (open(2)). A name that exists is retried with a fresh
    /// one a bounded number of times. The rename then replaces the directory entry <paramref name="path"/> itself:
    /// a symlink planted at the final name is replaced, its target untouched. We only ever delete a temp file we
    /// created.
    /// </remarks>
    public static void Write(string path, string contents) => Write(path, contents, RandomTempName);

    /// <summary><see cref="Write(string, string)"/> with the temp names drawn from <paramref name="tempName"/> (tests).</summary>
    internal static void Write(string path, string contents, Func<string, string> tempName)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        string? created = null;
        try
        {
            Directory.CreateDirectory(dir);
            using (var stream = CreateExclusive(dir, Path.GetFileName(full), tempName, out created))
            {
                stream.Write(Encoding.UTF8.GetBytes(contents));
                stream.Flush(flushToDisk: true);
            }
            File.Move(created, full, overwrite: true);
            created = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (created is not null)
                TryDelete(created);
            throw new ControlException($"cannot write subnet file {path}: {e.Message}");
        }
    }

    /// <summary>Fails now, with one clear line, if <paramref name="path"/> could not be written later.</summary>
    public static void CheckWritable(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        string? probe = null;
        try
        {
            if (Directory.Exists(full))
                throw new IOException("it is a directory");
            Directory.CreateDirectory(dir);
            CreateExclusive(dir, Path.GetFileName(full), RandomTempName, out probe).Dispose();
            File.Delete(probe);
            probe = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (probe is not null)
                TryDelete(probe);
            throw new ControlException($"cannot write subnet file {path}: {e.Message}");
        }
    }

    private static string RandomTempName(string fileName) =>
        $".{fileName}.{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}.tmp";

    /// <summary>A new file (O_CREAT|O_EXCL, 0644) at a fresh temp name in <paramref name="dir"/>; its path in <paramref name="created"/>.</summary>
    private static FileStream CreateExclusive(string dir, string fileName, Func<string, string> tempName, out string created)
    {
        const int attempts = 8;
        for (int i = 1; ; i++)
        {
            var candidate = Path.Combine(dir, tempName(fileName));
            try
            {
                var stream = new FileStream(candidate, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                });
                created = candidate;
                return stream;
            }
            catch (IOException) when (i < attempts && (Path.Exists(candidate) || IsLink(candidate)))
            {
                // Something already sits at that name (maybe planted): leave it alone and draw another name.
            }
        }
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    /// <summary>
    /// The previous FLANNEL_SUBNET, parsed as a CIDR (host bits cleared: 10.244.1.1/24 → 10.244.1.0/24), as
    /// flanneld's <c>ReadCIDRFromSubnetFile</c> does. Null when the file or the key is missing or unparsable.
    /// </summary>
    public static Ipv4Prefix? ReadPreviousSubnet(string path) => ReadPrefix(path, "FLANNEL_SUBNET");

    /// <summary>The previous FLANNEL_NETWORK, read the same way (flanneld compares it to decide on recycling iptables rules).</summary>
    public static Ipv4Prefix? ReadPreviousNetwork(string path) => ReadPrefix(path, "FLANNEL_NETWORK");

    private static Ipv4Prefix? ReadPrefix(string path, string key)
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
            if (eq < 0 || line[..eq].Trim() != key)
                continue;
            var value = line[(eq + 1)..].Trim().Trim('"', '\'');
            // godotenv values may be comma-separated lists; the first entry is the IPv4 one.
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
