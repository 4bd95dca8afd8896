using System.Collections.Concurrent;
using Dataplane.Packets;
using System.Text;
using System.Threading.Channels;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// flanneld's etcd v3 store (pkg/subnet/etcd/registry.go, flannel ≥ 0.18), same key space and values:
/// <code>
/// &lt;prefix&gt;/config                 network config (flanneld waits for it, retrying each second)
/// &lt;prefix&gt;/subnets/A.B.C.D-LEN     json.Marshal(LeaseAttrs), bound to an etcd lease granted with the TTL
/// </code>
/// A key with no etcd lease is a reservation (static, never expires). Creation is flannel's
/// <c>Txn(If(Version(key)==0)).Then(Put(key, value, WithLease(id)))</c>; renewal is flannel's <c>updateSubnet</c>
/// (a new Grant and a Put, no KeepAlive), made conditional on the key's ModRevision so that it never
/// resurrects a key that expired or changed hands between our read and our write.
/// <para>The watch follows <c>&lt;prefix&gt;/subnets/</c> from the listed revision + 1 on one gRPC stream, as
/// flannel's <c>watchSubnets</c> (WithRev(rev+1)); when the revision has been compacted away, or the stream
/// breaks, it re-lists and resumes (flannel's LeaseWatcher.Reset). An outage is logged once, when it starts,
/// and once when it ends; meanwhile the caller keeps its last table.</para>
/// </summary>
internal sealed class EtcdSubnetRegistry : ISubnetRegistry
{
    /// <summary>Every unary call gets this deadline, so a dead member is noticed and another endpoint tried.</summary>
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly Func<EtcdClient> _connect;
    private readonly Lock _clientGate = new();
    private volatile EtcdClient _client;
    private int _consecutiveFailures;
    // Consecutive calls that ended with the TLS connection closed right after the handshake (see EtcdRefusal.Hint).
    private int _closedAfterHandshake;
    private const int ClosedAfterHandshakeLimit = 3;
    private readonly EtcdOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _configKey;
    private readonly string _subnetsPrefix;

    /// <summary>Absolute expiry per etcd lease ID: granted TTLs never change (flannel never calls KeepAlive).</summary>
    private readonly ConcurrentDictionary<long, DateTimeOffset> _leaseExpiry = new();

    private EtcdSubnetRegistry(Func<EtcdClient> connect, EtcdOptions options, TimeProvider time, ILogger logger)
    {
        _connect = connect;
        _client = connect();
        _options = options;
        _time = time;
        _logger = logger;
        _configKey = options.NormalizedPrefix + "/config";
        _subnetsPrefix = options.NormalizedPrefix + "/subnets/";
    }

    /// <inheritdoc/>
    public string Description => $"etcd {string.Join(',', _options.Endpoints)} prefix {_options.Prefix}";

    /// <inheritdoc/>
    public string ConfigSource => $"etcd key {_configKey}";

    /// <summary>
    /// Creates the client. Nothing is contacted yet (flanneld also starts with etcd down and retries); bad TLS
    /// files fail here with one line.
    /// </summary>
    public static EtcdSubnetRegistry Open(EtcdOptions options, TimeProvider time, ILogger logger)
    {
        if (options.Endpoints.Count == 0)
            throw ControlException.Usage("--etcd-endpoints is empty");
        var schemes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var endpoint in options.Endpoints)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Port <= 0)
                throw ControlException.Usage($"invalid --etcd-endpoints entry '{endpoint}': must be http://HOST:PORT or https://HOST:PORT");
            schemes.Add(uri.Scheme);
        }
        // One gRPC channel serves every endpoint and is either TLS or not: dotnet-etcd keeps only host and port of
        // each URL (its static resolver), so the scheme must be given to the channel as a whole.
        if (schemes.Count > 1)
            throw ControlException.Usage("--etcd-endpoints mixes http:// and https:// URLs: use one scheme for all");
        bool https = schemes.Contains("https");
        if (options.Username is not null && string.IsNullOrEmpty(options.Password))
            throw ControlException.Usage("--etcd-username needs --etcd-password");
        var tls = EtcdTls.Load(options);
        var connection = string.Join(',', options.Endpoints);
        void Channel(Grpc.Net.Client.GrpcChannelOptions channel)
        {
            // HTTP/2 pings notice a member that vanished without closing the connection (a killed VM, a cut
            // link): the watch stream fails within ~10 s and is re-established on another endpoint.
            var handler = new SocketsHttpHandler
            {
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                EnableMultipleHttp2Connections = true,
                ConnectTimeout = TimeSpan.FromSeconds(3),
            };
            tls?.Apply(handler.SslOptions);
            channel.HttpHandler = handler;
            // gRPC's default reconnect back-off grows to 2 minutes: after an etcd outage of a few seconds the
            // channel could sit in TRANSIENT_FAILURE (failing every call at once) long after etcd is back. Cap it
            // at our own retry cap so a returning etcd is used within seconds.
            channel.InitialReconnectBackoff = TimeSpan.FromMilliseconds(500);
            channel.MaxReconnectBackoff = MaxBackoff;
            channel.DisposeHttpClient = true;
        }
        EtcdClient Connect()
        {
            // The TLS constructor is the only one that gives the channel TLS credentials; the plain one makes the
            // channel insecure whatever the URLs say, so https:// endpoints were spoken to in cleartext. The SSL
            // options given here go to dotnet-etcd's own handler, which Channel replaces: ours carries them.
            var client = https
                ? new EtcdClient(connection, ssl => tls?.Apply(ssl), configureChannelOptions: Channel)
                : new EtcdClient(connection, configureChannelOptions: Channel);
            // etcd's Authenticate RPC gives a token that dotnet-etcd's handler attaches to every call, including
            // the watch stream, and fetches again when etcd rejects it as expired.
            if (options.Username is { } user)
                client.SetCredentials(user, options.Password!);
            return client;
        }
        return new EtcdSubnetRegistry(Connect, options, time, logger);
    }

    /// <inheritdoc/>
    public async ValueTask<string?> GetNetworkConfigAsync(CancellationToken cancellationToken)
    {
        // flanneld (subnet.go getNetworkConfig callers) retries every second until the key exists; it logs each
        // attempt, we log the first and say when it finally arrived.
        bool waited = false;
        var outage = new OutageLog(_logger, Description);
        for (long attempt = 0; ; attempt++)
        {
            try
            {
                var response = await CallAsync((deadline, ct) => _client.GetAsync(
                    new RangeRequest { Key = Utf8(_configKey) }, null, deadline, ct), cancellationToken).ConfigureAwait(false);
                outage.Recovered();
                if (response.Kvs.Count > 0)
                {
                    if (waited)
                        _logger.LogInformation("Found network config at {Key}", _configKey);
                    return response.Kvs[0].Value.ToStringUtf8();
                }
                if (!waited)
                {
                    _logger.LogWarning("Couldn't fetch network config: flannel config not found in etcd store ({Key}). Did you create your config using etcdv3 API? Retrying every second", _configKey);
                    waited = true;
                }
            }
            catch (SubnetRegistryUnavailableException e)
            {
                if (attempt == 0)
                    await ThrowIfOnlyV2Async(cancellationToken).ConfigureAwait(false);
                outage.Failed(e.Message);
            }
            await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseSnapshot> ListAsync(CancellationToken cancellationToken)
    {
        var (kvs, _) = await RangeSubnetsAsync(cancellationToken).ConfigureAwait(false);
        return await BuildSnapshotAsync(kvs.Values, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<DateTimeOffset?> TryCreateAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var key = Utf8(KeyOf(subnet));
        var (leaseId, expiration) = await GrantAsync(ttl, cancellationToken).ConfigureAwait(false);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFrom(attributes.ToJsonBytes()), Lease = leaseId } });
        var response = await CallAsync((deadline, ct) => _client.TransactionAsync(txn, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        if (response.Succeeded)
            return expiration;
        // flannel revokes the unused grant and returns errTryAgain.
        await RevokeQuietlyAsync(leaseId, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <inheritdoc/>
    public async ValueTask<DateTimeOffset?> PutAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan? ttl, CancellationToken cancellationToken)
    {
        long leaseId = 0;
        DateTimeOffset? expiration = null;
        if (ttl is TimeSpan t)
            (leaseId, expiration) = await GrantAsync(t, cancellationToken).ConfigureAwait(false);
        var put = new PutRequest { Key = Utf8(KeyOf(subnet)), Value = ByteString.CopyFrom(attributes.ToJsonBytes()), Lease = leaseId };
        await CallAsync((deadline, ct) => _client.PutAsync(put, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        return expiration;
    }

    /// <inheritdoc/>
    public async ValueTask<RenewResult> RenewAsync(Ipv4Prefix subnet, Ipv4Address owner, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var key = Utf8(KeyOf(subnet));
        var current = await CallAsync((deadline, ct) => _client.GetAsync(new RangeRequest { Key = key }, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        if (current.Kvs.Count == 0)
            return new RenewResult(RenewOutcome.Gone);
        var kv = current.Kvs[0];
        if (!LeaseAttributes.TryParse(kv.Value.ToByteArray(), out var attributes, out var problem))
            return new RenewResult(RenewOutcome.Corrupt, Problem: problem);
        if (attributes.PublicIP != owner)
            return new RenewResult(RenewOutcome.Gone);
        if (kv.Lease == 0)
            return new RenewResult(RenewOutcome.Static);
        var (leaseId, expiration) = await GrantAsync(ttl, cancellationToken).ConfigureAwait(false);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = kv.ModRevision });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = kv.Value, Lease = leaseId } });
        var response = await CallAsync((deadline, ct) => _client.TransactionAsync(txn, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        if (!response.Succeeded)
        {
            // Our own put may be what moved the ModRevision: a transaction whose first try committed but whose answer
            // was lost (the member died) and that was sent again fails its compare against our own write. Then the
            // key holds the grant we just made, which nobody else can attach: renewed, not gone.
            var after = await CallAsync((deadline, ct) => _client.GetAsync(new RangeRequest { Key = key }, null, deadline, ct), cancellationToken).ConfigureAwait(false);
            if (after.Kvs.Count == 1 && after.Kvs[0].Lease == leaseId)
                return new RenewResult(RenewOutcome.Renewed, expiration);
            // Expired, deleted or rewritten since our read: what is there now is not the lease we held.
            await RevokeQuietlyAsync(leaseId, cancellationToken).ConfigureAwait(false);
            return new RenewResult(RenewOutcome.Gone);
        }
        // The old grant now holds no key; flannel leaves it to expire on its own, and so do we.
        return new RenewResult(RenewOutcome.Renewed, expiration);
    }

    /// <inheritdoc/>
    public async ValueTask DeleteAsync(Ipv4Prefix subnet, CancellationToken cancellationToken)
    {
        var request = new DeleteRangeRequest { Key = Utf8(KeyOf(subnet)) };
        await CallAsync((deadline, ct) => _client.DeleteAsync(request, null, deadline, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<LeaseSnapshot> WatchAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The producer owns every failure (it cannot be caught around a yield); only the newest snapshot matters.
        var channel = Channel.CreateBounded<LeaseSnapshot>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(() => ProduceAsync(channel.Writer, stop.Token), CancellationToken.None);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }
                if (!more)
                    break;
                while (channel.Reader.TryRead(out var snapshot))
                    yield return snapshot;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await producer.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        // The producer only completes the channel with an exception that is not an outage (e.g. a config error).
        await producer.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        lock (_clientGate)
            _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task ProduceAsync(ChannelWriter<LeaseSnapshot> writer, CancellationToken ct)
    {
        var outage = new OutageLog(_logger, Description);
        var backoff = TimeSpan.FromMilliseconds(250);
        LeaseSnapshot? last = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    var (kvs, revision) = await RangeSubnetsAsync(ct).ConfigureAwait(false);
                    outage.Recovered();
                    last = await PublishAsync(writer, kvs, last, ct).ConfigureAwait(false);
                    backoff = TimeSpan.FromMilliseconds(250);
                    await FollowAsync(writer, kvs, revision, () => last, s => last = s, ct).ConfigureAwait(false);
                }
                catch (SubnetRegistryUnavailableException e)
                {
                    outage.Failed(e.Message);
                }
                catch (RpcException e) when (!ct.IsCancellationRequested)
                {
                    outage.Failed($"watch stream: {e.Status.StatusCode} {e.Status.Detail}");
                }
                catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    // Includes a connect or HTTP timeout surfacing as a cancellation that is not ours.
                    outage.Failed($"watch stream: {e.GetType().Name}: {e.Message}");
                }
                await Task.Delay(backoff, _time, ct).ConfigureAwait(false);
                backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
            }
            writer.TryComplete();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            writer.TryComplete();
        }
        catch (RpcException) when (ct.IsCancellationRequested)
        {
            // gRPC reports our own cancellation of the watch stream as StatusCode.Cancelled: that is shutdown.
            writer.TryComplete();
        }
        catch (Exception e)
        {
            writer.TryComplete(e);
            throw;
        }
    }

    /// <summary>
    /// Follows the subnets prefix from <paramref name="revision"/> + 1 until the stream ends. Returns normally when
    /// the history was compacted (the caller re-lists), throws <see cref="RpcException"/> when the stream breaks.
    /// </summary>
    private async Task FollowAsync(ChannelWriter<LeaseSnapshot> writer, Dictionary<string, Mvccpb.KeyValue> kvs, long revision,
        Func<LeaseSnapshot?> getLast, Action<LeaseSnapshot> setLast, CancellationToken ct)
    {
        using var call = _client.GetConnection().WatchClient.Watch(cancellationToken: ct);
        var create = new WatchCreateRequest { Key = Utf8(_subnetsPrefix), RangeEnd = PrefixEnd(_subnetsPrefix), StartRevision = revision + 1, ProgressNotify = true };
        await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = create }, ct).ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
        {
            var response = call.ResponseStream.Current;
            if (response.CompactRevision > 0 || response.Canceled)
            {
                _logger.LogInformation("Watch of {Prefix} lost its place (compacted to revision {Compact}{Reason}); re-listing",
                    _subnetsPrefix, response.CompactRevision, response.CancelReason is { Length: > 0 } r ? ", " + r : "");
                return;
            }
            if (response.Events.Count == 0)
                continue;
            foreach (var e in response.Events)
            {
                var key = e.Kv.Key.ToStringUtf8();
                if (e.Type == Mvccpb.Event.Types.EventType.Delete)
                    kvs.Remove(key);
                else
                    kvs[key] = e.Kv;
            }
            setLast(await PublishAsync(writer, kvs, getLast(), ct).ConfigureAwait(false));
        }
        throw new RpcException(new Status(StatusCode.Unavailable, "watch stream closed by the server"));
    }

    private async Task<LeaseSnapshot> PublishAsync(ChannelWriter<LeaseSnapshot> writer, Dictionary<string, Mvccpb.KeyValue> kvs, LeaseSnapshot? last, CancellationToken ct)
    {
        var snapshot = await BuildSnapshotAsync(kvs.Values, ct).ConfigureAwait(false);
        if (last is not null && last.Leases.SequenceEqual(snapshot.Leases) && last.Corrupt.SequenceEqual(snapshot.Corrupt))
            return last;
        await writer.WriteAsync(snapshot, ct).ConfigureAwait(false);
        return snapshot;
    }

    private async Task<(Dictionary<string, Mvccpb.KeyValue> Kvs, long Revision)> RangeSubnetsAsync(CancellationToken cancellationToken)
    {
        var request = new RangeRequest { Key = Utf8(_subnetsPrefix), RangeEnd = PrefixEnd(_subnetsPrefix) };
        var response = await CallAsync((deadline, ct) => _client.GetAsync(request, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        var kvs = new Dictionary<string, Mvccpb.KeyValue>(StringComparer.Ordinal);
        foreach (var kv in response.Kvs)
            kvs[kv.Key.ToStringUtf8()] = kv;
        return (kvs, response.Header.Revision);
    }

    private async Task<LeaseSnapshot> BuildSnapshotAsync(IEnumerable<Mvccpb.KeyValue> kvs, CancellationToken ct)
    {
        var leases = new List<Lease>();
        var corrupt = new List<CorruptLease>();
        foreach (var kv in kvs)
        {
            var key = kv.Key.ToStringUtf8()[_subnetsPrefix.Length..];
            if (!SubnetKey.TryParse(key, out var subnet))
            {
                corrupt.Add(new CorruptLease(key, null, "key is not a subnet key A.B.C.D-LEN", null));
                continue;
            }
            DateTimeOffset? expiration = null;
            if (kv.Lease != 0)
            {
                expiration = await ExpirationAsync(kv.Lease, ct).ConfigureAwait(false);
                if (expiration is null)
                    continue; // the grant is already gone: etcd is deleting the key
            }
            if (!LeaseAttributes.TryParse(kv.Value.ToByteArray(), out var attributes, out var problem))
            {
                corrupt.Add(new CorruptLease(key, subnet, problem, null));
                continue;
            }
            leases.Add(new Lease(subnet.Value, attributes, expiration));
        }
        leases.Sort((a, b) => a.Subnet.Address.CompareTo(b.Subnet.Address));
        corrupt.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new LeaseSnapshot(leases, corrupt);
    }

    /// <summary>The expiry of an etcd lease, asked once per lease ID (TimeToLive) and then cached.</summary>
    private async Task<DateTimeOffset?> ExpirationAsync(long leaseId, CancellationToken cancellationToken)
    {
        if (_leaseExpiry.TryGetValue(leaseId, out var known))
            return known;
        var response = await CallAsync((deadline, ct) => _client.LeaseTimeToLiveAsync(
            new LeaseTimeToLiveRequest { ID = leaseId }, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        if (response.TTL < 0)
            return null;
        var expiration = _time.GetUtcNow() + TimeSpan.FromSeconds(response.TTL);
        if (_leaseExpiry.Count > 100_000)
            _leaseExpiry.Clear(); // bounded: entries are re-fetched on demand
        _leaseExpiry[leaseId] = expiration;
        return expiration;
    }

    /// <summary>flannel's <c>Grant(ttl)</c>; etcd may raise a tiny TTL to its minimum, so the granted TTL is used.</summary>
    private async Task<(long Id, DateTimeOffset Expiration)> GrantAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        long seconds = Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));
        var response = await CallAsync((deadline, ct) => _client.LeaseGrantAsync(
            new LeaseGrantRequest { TTL = seconds }, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(response.Error))
            throw new SubnetRegistryUnavailableException($"etcd refused a lease grant: {response.Error}");
        var expiration = _time.GetUtcNow() + TimeSpan.FromSeconds(response.TTL);
        _leaseExpiry[response.ID] = expiration;
        return (response.ID, expiration);
    }

    private async Task RevokeQuietlyAsync(long leaseId, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync((deadline, ct) => _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, null, deadline, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (SubnetRegistryUnavailableException)
        {
            // It expires by itself after the TTL; it holds no key.
        }
        _leaseExpiry.TryRemove(leaseId, out _);
    }

    /// <summary>
    /// Replaces the gRPC channel after <see cref="ReconnectAfter"/> failed calls in a row. Measured with a killed
    /// and restarted etcd: the old channel's subchannel can stay wedged (every call DeadlineExceeded) long after
    /// etcd is back; a fresh channel connects at once.
    /// </summary>
    private void NoteFailure()
    {
        if (Interlocked.Increment(ref _consecutiveFailures) % ReconnectAfter != 0)
            return;
        EtcdClient old;
        lock (_clientGate)
        {
            old = _client;
            _client = _connect();
        }
        _logger.LogDebug("Opened a new connection to {Store} after {Failures} failed calls", Description, _consecutiveFailures);
        // Calls and the watch stream may still be running on the old channel: let them fail or finish on their
        // own deadline (5 s) before tearing it down, rather than racing their cleanup.
        _ = Task.Delay(CallTimeout * 2, CancellationToken.None).ContinueWith(_ => old.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    private const int ReconnectAfter = 3;

    /// <summary>One etcd call with a deadline; transport failures become <see cref="SubnetRegistryUnavailableException"/>.</summary>
    private async Task<T> CallAsync<T>(Func<DateTime, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        try
        {
            var result = await call(DateTime.UtcNow + CallTimeout, ct).ConfigureAwait(false);
            Interlocked.Exchange(ref _consecutiveFailures, 0);
            Interlocked.Exchange(ref _closedAfterHandshake, 0);
            return result;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
        {
            throw new OperationCanceledException(ct);
        }
        catch (Exception e) when (EtcdRefusal.Explain(e, _options) is { } refusal)
        {
            throw new ControlException($"etcd {string.Join(',', _options.Endpoints)}: {refusal}", inner: e);
        }
        catch (Exception e) when (EtcdRefusal.Hint(e, _options).Length > 0 && Interlocked.Increment(ref _closedAfterHandshake) >= ClosedAfterHandshakeLimit)
        {
            // TLS 1.3 lets a server that demands a client certificate close the connection before its alert reaches us
            // (a race: sometimes the alert arrives and Explain names it). Every attempt ending that way, with no client
            // certificate configured, is the same refusal; a few in a row end the retries instead of looping forever.
            throw new ControlException($"etcd {string.Join(',', _options.Endpoints)}: the server closed the TLS connection right after the handshake {ClosedAfterHandshakeLimit} times in a row, as a server that requires a client certificate does, and none was given: set --etcd-certfile and --etcd-keyfile", inner: e);
        }
        catch (RpcException e)
        {
            if (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Internal or StatusCode.Unknown)
                NoteFailure();
            throw new SubnetRegistryUnavailableException($"etcd {string.Join(',', _options.Endpoints)}: {e.Status.StatusCode} {e.Status.Detail}".TrimEnd() + EtcdRefusal.Hint(e, _options), e);
        }
        catch (HttpRequestException e)
        {
            NoteFailure();
            throw new SubnetRegistryUnavailableException($"etcd {string.Join(',', _options.Endpoints)}: {e.Message}" + EtcdRefusal.Hint(e, _options), e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            NoteFailure();
            // A transport timeout (connect, HTTP/2 ping) that is not the caller's cancellation: an outage.
            throw new SubnetRegistryUnavailableException($"etcd {string.Join(',', _options.Endpoints)}: timed out ({e.Message})", e);
        }
    }

    /// <summary>
    /// An endpoint that answers HTTP/1.1 <c>GET /version</c> with an etcdserver 2.x and no gRPC is an etcd v2 server:
    /// flannel itself dropped v2 in 0.18, and so do we, with a message saying so rather than retrying forever.
    /// </summary>
    private async Task ThrowIfOnlyV2Async(CancellationToken ct)
    {
        foreach (var endpoint in _options.Endpoints)
        {
            var version = await EtcdTls.ProbeVersionAsync(endpoint, _options, ct).ConfigureAwait(false);
            if (version is { } v && v.StartsWith('2'))
            {
                throw new ControlException(
                    $"etcd at {endpoint} is version {v} and speaks only the v2 API; the etcd v2 store (flannel before 0.18) is out of scope: use an etcd v3 server (flannel >= 0.18 needs one too)");
            }
        }
    }

    private string KeyOf(Ipv4Prefix subnet) => _subnetsPrefix + SubnetKey.Format(subnet);

    private static ByteString Utf8(string s) => ByteString.CopyFromUtf8(s);

    /// <summary>etcd's prefix range end: the prefix with its last byte incremented (clientv3.GetPrefixRangeEnd).</summary>
    private static ByteString PrefixEnd(string prefix)
    {
        var bytes = Encoding.UTF8.GetBytes(prefix);
        for (int i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return ByteString.CopyFrom(bytes, 0, i + 1);
            }
        }
        return ByteString.CopyFrom(0);
    }

    /// <summary>Logs an outage once when it starts and once when it ends, never per retry.</summary>
    private sealed class OutageLog(ILogger logger, string store)
    {
        private DateTimeOffset? _since;
        private int _failures;

        public void Failed(string error)
        {
            _failures++;
            if (_since is null)
            {
                _since = DateTimeOffset.UtcNow;
                logger.LogError("Lost contact with {Store} ({Error}); keeping the last known leases and retrying with back-off", store, error);
            }
            else
            {
                logger.LogDebug("Still cannot reach {Store} (attempt {Attempt}): {Error}", store, _failures, error);
            }
        }

        public void Recovered()
        {
            if (_since is not DateTimeOffset since)
                return;
            logger.LogInformation("Reached {Store} again after {Seconds:0.0} s and {Failures} failed attempts; resynchronising", store, (DateTimeOffset.UtcNow - since).TotalSeconds, _failures);
            _since = null;
            _failures = 0;
        }
    }
}
