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
}
