using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Control.Leases;

/// <summary>
/// flanneld's <c>--etcd-cafile/--etcd-certfile/--etcd-keyfile</c>: a CA bundle the server must chain to and an
/// optional client certificate (PEM files, as etcd's own tooling uses). Loaded once at startup so a bad file is
/// one clear error, not a failure at the first call.
/// </summary>
internal sealed class EtcdTls
{
    private readonly X509Certificate2Collection? _roots;
    private readonly X509Certificate2? _client;

    private EtcdTls(X509Certificate2Collection? roots, X509Certificate2? client)
    {
        _roots = roots;
        _client = client;
    }

    /// <summary>The TLS settings the options ask for, or null when none were given.</summary>
    public static EtcdTls? Load(EtcdOptions options)
    {
        if (options.CaFile is null && options.CertFile is null && options.KeyFile is null)
            return null;
        if ((options.CertFile is null) != (options.KeyFile is null))
            throw ControlException.Usage("--etcd-certfile and --etcd-keyfile go together: give both or neither");
        try
        {
            X509Certificate2Collection? roots = null;
            if (options.CaFile is { } ca)
            {
                roots = [];
                roots.ImportFromPemFile(ca);
                if (roots.Count == 0)
                    throw new ControlException($"--etcd-cafile {ca} holds no PEM certificate");
            }
            X509Certificate2? client = options.CertFile is { } cert
                ? X509Certificate2.CreateFromPemFile(cert, options.KeyFile)
                : null;
            return new EtcdTls(roots, client);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new ControlException($"cannot load the etcd TLS files (--etcd-cafile/--etcd-certfile/--etcd-keyfile): {e.Message}");
        }
    }

    /// <summary>Applies the client certificate and the CA check to a handler's TLS options.</summary>
    public void Apply(SslClientAuthenticationOptions ssl)
    {
        if (_client is not null)
            ssl.ClientCertificates = [_client];
        if (_roots is not null)
        {
            var roots = _roots;
            ssl.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null)
                    return false;
                // Host name mismatches stay fatal; only the trust anchor is ours instead of the system store.
                if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }
    }

    /// <summary>
    /// <c>GET endpoint/version</c> over HTTP/1.1 (served by etcd v2 and v3 alike): the server's etcdserver version,
    /// or null when the endpoint does not answer it.
    /// </summary>
    public static async Task<string?> ProbeVersionAsync(string endpoint, EtcdOptions options, CancellationToken ct)
    {
        using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2) };
        Load(options)?.Apply(handler.SslOptions);
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync(endpoint.TrimEnd('/') + "/version", ct).ConfigureAwait(false));
            return doc.RootElement.TryGetProperty("etcdserver", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}
