namespace Control.Leases;

/// <summary>
/// How to reach etcd: flanneld's <c>--etcd-*</c> flags (main.go), with its defaults applied by the reader.
/// </summary>
/// <param name="Endpoints">--etcd-endpoints, split at commas (http:// or https:// URLs).</param>
/// <param name="Prefix">--etcd-prefix (flannel joins keys with path.Join, so a trailing '/' is dropped).</param>
/// <param name="CaFile">--etcd-cafile: PEM bundle the server certificate must chain to (default: the system store).</param>
/// <param name="CertFile">--etcd-certfile: client certificate (PEM), with <paramref name="KeyFile"/>.</param>
/// <param name="KeyFile">--etcd-keyfile: the client certificate's private key (PEM).</param>
/// <param name="Username">--etcd-username.</param>
/// <param name="Password">--etcd-password.</param>
internal sealed record EtcdOptions(
    IReadOnlyList<string> Endpoints,
    string Prefix,
    string? CaFile = null,
    string? CertFile = null,
    string? KeyFile = null,
    string? Username = null,
    string? Password = null)
{
    /// <summary>The key prefix as flannel's path.Join leaves it: no trailing slash (a bare "/" stays "").</summary>
    public string NormalizedPrefix => Prefix.TrimEnd('/');

    /// <summary>The flanneld <c>--etcd-*</c> flag names, without dashes.</summary>
    public static IReadOnlyList<string> FlagNames { get; } = ["etcd-endpoints", "etcd-prefix", "etcd-cafile", "etcd-certfile", "etcd-keyfile", "etcd-username", "etcd-password"];

    /// <summary>
    /// Reads the <c>--etcd-*</c> flags (<paramref name="flag"/> gives a flag's value or null) with flanneld's defaults;
    /// an empty file or user flag means "not set", as in flanneld. Usage errors for what can never work.
    /// </summary>
    public static EtcdOptions FromFlags(Func<string, string?> flag, string defaultEndpoints, string defaultPrefix)
    {
        var endpoints = (flag("etcd-endpoints") ?? defaultEndpoints).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (endpoints.Length == 0)
            throw ControlException.Usage("--etcd-endpoints needs at least one URL");
        static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
        var options = new EtcdOptions(endpoints, flag("etcd-prefix") ?? defaultPrefix,
            NonEmpty(flag("etcd-cafile")), NonEmpty(flag("etcd-certfile")), NonEmpty(flag("etcd-keyfile")),
            NonEmpty(flag("etcd-username")), flag("etcd-password"));
        if ((options.CertFile is null) != (options.KeyFile is null))
            throw ControlException.Usage("--etcd-certfile and --etcd-keyfile go together: give both or neither");
        return options;
    }
}
