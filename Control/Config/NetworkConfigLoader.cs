namespace Control.Config;

/// <summary>
/// Finds the network config for a node: <c>--net-config-path</c> wins over the store's config
/// (<c>DIR/config</c> or, later, etcd's <c>&lt;prefix&gt;/config</c>). When both exist and mean different
/// things the operator has two sources of truth, so we refuse to start rather than guess.
/// </summary>
internal static class NetworkConfigLoader
{
    /// <summary>
    /// Loads and validates the config. <paramref name="storeConfig"/> is the store's raw config text (null when
    /// absent) and <paramref name="storeSource"/> names it in messages; <paramref name="warn"/> receives the one
    /// warning per source naming keys flannel does not know.
    /// </summary>
    public static NetworkConfig Load(string? netConfigPath, string? storeConfig, string storeSource, Action<string>? warn = null)
    {
        NetworkConfig? fromStore = storeConfig is null ? null : NetworkConfigParser.Parse(storeConfig, storeSource, warn);
        if (netConfigPath is null)
        {
            return fromStore ?? throw new ControlException(
                $"no network config: {storeSource} does not exist and --net-config-path was not given");
        }
        var fromFile = NetworkConfigParser.Parse(ReadFile(netConfigPath), netConfigPath, warn);
        if (fromStore is not null && fromStore != fromFile)
        {
            throw new ControlException(
                $"{netConfigPath} and {storeSource} disagree ({Summary(fromFile)} vs {Summary(fromStore)}): remove one or make them equal");
        }
        return fromFile;
    }

    /// <summary>Reads a config file, turning I/O errors into one operator line.</summary>
    public static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ControlException($"cannot read network config {path}: {e.Message}");
        }
    }

    private static string Summary(NetworkConfig c) =>
        $"Network {c.Network} SubnetLen {c.SubnetLen} SubnetMin {c.SubnetMin} SubnetMax {c.SubnetMax} Backend {c.Backend.TypeName}:{c.Backend.Port} VNI {c.Backend.Vni} MTU {c.Backend.Mtu?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"}";
}
