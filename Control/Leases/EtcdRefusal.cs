using System.Security.Authentication;
using Grpc.Core;

namespace Control.Leases;

/// <summary>
/// Tells a misconfiguration (TLS or credentials etcd will never accept) from an outage (retried with back-off).
/// gRPC wraps what went wrong in layers: a TLS failure is an <see cref="AuthenticationException"/> or an OpenSSL
/// alert inside an <see cref="HttpRequestException"/> inside RpcException(Unavailable); a failed Authenticate, which
/// dotnet-etcd makes inside its HTTP handler, is an RpcException(InvalidArgument) inside RpcException(Internal).
/// Messages come from etcd 3.4 (etcdserver/api/v3rpc/rpctypes/error.go) and OpenSSL's alert names.
/// </summary>
internal static class EtcdRefusal
{
    /// <summary>One line naming the problem and the flags to check, or null when the failure may be transient.</summary>
    public static string? Explain(Exception error, EtcdOptions options)
    {
        foreach (var e in Chain(error))
        {
            if (e is RpcException rpc && Explain(rpc.Status, options) is { } auth)
                return auth;
            var message = e.Message;
            // TLS 1.3: the server checks our certificate after the client finished its handshake, so a missing or
            // unknown client certificate arrives as an alert on the first read ("bad certificate" from Go's TLS, as
            // etcd 3.4 sends; "certificate required" or "unknown ca" from others), not as a handshake failure.
            if (Alert.Match(message) is { Success: true } alert)
            {
                return options.CertFile is { } cert
                    ? $"the server rejected our client certificate {cert} (TLS {alert.Value}): it must be signed by a CA in the server's --trusted-ca-file; check --etcd-certfile/--etcd-keyfile"
                    : $"the server requires a client certificate (TLS {alert.Value}) and none was given: set --etcd-certfile and --etcd-keyfile";
            }
            if (e is AuthenticationException)
            {
                return options.CaFile is { } ca
                    ? $"TLS handshake failed ({Short(message)}): the server certificate does not chain to --etcd-cafile {ca}, or does not name the host of the endpoint"
                    : $"TLS handshake failed ({Short(message)}): the server certificate is not trusted by the system store; set --etcd-cafile";
            }
        }
        return null;
    }

    /// <summary>
    /// A suffix for an outage message whose cause may be ours: with TLS 1.3 a server that requires a client certificate
    /// may close the connection before its alert reaches us, which looks like any connection lost after the handshake
    /// ("did not complete the HTTP/2 handshake"). Not proof (a proxy could do the same), so it is a hint on a retried
    /// failure, never a refusal. Empty when it does not apply.
    /// </summary>
    public static string Hint(Exception error, EtcdOptions options)
    {
        if (options.CertFile is not null || !options.Endpoints.Any(e => e.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
            return "";
        foreach (var e in Chain(error))
        {
            if (e.Message.Contains("did not complete the HTTP/2 handshake", StringComparison.Ordinal))
                return " (the server closed the TLS connection after the handshake: if it requires a client certificate, none was given: set --etcd-certfile and --etcd-keyfile)";
        }
        return "";
    }

    private static string? Explain(Status status, EtcdOptions options)
    {
        var detail = status.Detail;
        if (detail.Contains("authentication failed", StringComparison.Ordinal))
            return $"{detail} (user '{options.Username}'): check --etcd-username/--etcd-password";
        if (detail.Contains("user name is empty", StringComparison.Ordinal) || detail.Contains("user name not found", StringComparison.Ordinal))
            return $"{detail}: authentication is enabled on this etcd; set --etcd-username/--etcd-password";
        // An expired or forgotten token (etcd restarted) is "invalid auth token", Unauthenticated: dotnet-etcd drops
        // the token and authenticates again on the next call, so that one is retried like an outage.
        if (status.StatusCode == StatusCode.PermissionDenied || (status.StatusCode == StatusCode.Unauthenticated && !detail.Contains("invalid auth token", StringComparison.Ordinal)))
            return $"refused ({status.StatusCode}: {detail}): check that --etcd-username's role may read and write under --etcd-prefix {options.Prefix}";
        return null;
    }

    private static IEnumerable<Exception> Chain(Exception error)
    {
        var pending = new Stack<Exception>();
        pending.Push(error);
        for (int seen = 0; pending.Count > 0 && seen < 32; seen++)
        {
            var e = pending.Pop();
            yield return e;
            if (e.InnerException is { } inner)
                pending.Push(inner);
            if (e is RpcException { Status.DebugException: { } debug })
                pending.Push(debug);
        }
    }

    private static readonly System.Text.RegularExpressions.Regex Alert = new(@"alert (bad certificate|certificate required|unknown ca)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    private static string Short(string message) => message.ReplaceLineEndings(" ").Trim();
}
