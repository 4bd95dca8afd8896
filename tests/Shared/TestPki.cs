namespace Dataplane.Testing;

/// <summary>
/// A throwaway PKI made with openssl in a directory the caller owns (and deletes): a CA, a server certificate for
/// 127.0.0.1 (IP SAN, as etcd's client URL is an IP), a client certificate signed by that CA, and a second,
/// unrelated CA (a wrong <c>--etcd-cafile</c>). EC P-256 keys: fast to make on a loaded machine; keys are PKCS#8
/// PEM, as etcd's own tooling writes them. Valid for a day.
/// </summary>
public sealed class TestPki
{
    private TestPki(string dir) => Dir = dir;

    /// <summary>The directory holding the files.</summary>
    public string Dir { get; }

    /// <summary>The CA both certificates chain to.</summary>
    public string Ca => Path.Combine(Dir, "ca.pem");

    /// <summary>A CA that signed neither certificate.</summary>
    public string OtherCa => Path.Combine(Dir, "other-ca.pem");

    /// <summary>The server certificate (SAN IP:127.0.0.1) and its key.</summary>
    public string ServerCert => Path.Combine(Dir, "server.pem");

    /// <inheritdoc cref="ServerCert"/>
    public string ServerKey => Path.Combine(Dir, "server.key");

    /// <summary>The client certificate (CN flanneld) and its key.</summary>
    public string ClientCert => Path.Combine(Dir, "client.pem");

    /// <inheritdoc cref="ClientCert"/>
    public string ClientKey => Path.Combine(Dir, "client.key");

    /// <summary>Makes the files in <paramref name="dir"/> (created if missing).</summary>
    public static TestPki Create(string dir)
    {
        Prerequisites.RequireTool("openssl");
        Directory.CreateDirectory(dir);
        var pki = new TestPki(dir);
        pki.MakeCa("ca", "dataplane-test-ca");
        pki.MakeCa("other-ca", "dataplane-other-ca");
        // etcd 3.4 also dials itself with its server certificate (the gRPC gateway), hence clientAuth on it too.
        pki.Issue("server", "etcd-test-server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n");
        pki.Issue("client", "flanneld", "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n");
        return pki;
    }

    private void MakeCa(string name, string cn) => OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", P(name + ".key"), "-out", P(name + ".pem"), "-days", "1", "-subj", "/CN=" + cn);

    private void Issue(string name, string cn, string extensions)
    {
        File.WriteAllText(P(name + ".ext"), extensions);
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", P(name + ".key"), "-out", P(name + ".csr"), "-subj", "/CN=" + cn);
        OpenSsl("x509", "-req", "-in", P(name + ".csr"), "-CA", Ca, "-CAkey", P("ca.key"), "-CAcreateserial",
            "-out", P(name + ".pem"), "-days", "1", "-extfile", P(name + ".ext"));
    }

    private string P(string file) => Path.Combine(Dir, file);

    private static void OpenSsl(params string[] args) => Sh.Run("openssl", args, TimeSpan.FromSeconds(30)).Check("openssl " + args[0]);
}
