using Control.Leases;
using Dataplane.Testing;
using dotnet_etcd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests.Registry;

/// <summary>
/// The store contract against a real single-member etcd started for this fixture (tmpfs data dir, free loopback
/// ports, killed and deleted afterwards); every test writes under its own prefix.
/// </summary>
[TestFixture]
[Category("Etcd")]
public sealed class EtcdRegistryConformance : SubnetRegistryConformance
{
    private EtcdCluster? _etcd;
    private EtcdClient? _raw;
    private string _prefix = "";

    [OneTimeSetUp]
    public void StartEtcd()
    {
        _etcd = EtcdCluster.Start();
        _raw = new EtcdClient(_etcd.Endpoints);
    }

    [OneTimeTearDown]
    public void StopEtcd()
    {
        _raw?.Dispose();
        _etcd?.Dispose();
    }

    private protected override Task<ISubnetRegistry> OpenEmptyAsync()
    {
        _prefix = $"/test-{Guid.NewGuid():N}/network";
        return Task.FromResult<ISubnetRegistry>(EtcdSubnetRegistry.Open(new EtcdOptions(_etcd!.ClientUrls, _prefix), TimeProvider.System, NullLogger.Instance));
    }

    private protected override Task WriteConfigAsync(string text) => _raw!.PutAsync(_prefix + "/config", text);

    private protected override Task WriteRawAsync(string key, string value) => _raw!.PutAsync($"{_prefix}/subnets/{key}", value);

    private protected override async Task<string?> ReadRawAsync(string key)
    {
        var r = await _raw!.GetAsync($"{_prefix}/subnets/{key}");
        return r.Kvs.Count == 0 ? null : r.Kvs[0].Value.ToStringUtf8();
    }

    private protected override Task CleanUpAsync() => _raw is null ? Task.CompletedTask : _raw.DeleteRangeAsync(_prefix.Split('/')[1].Insert(0, "/"));
}
