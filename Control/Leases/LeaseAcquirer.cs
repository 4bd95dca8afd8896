using Control.Config;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// Acquires this node's subnet as flanneld's <c>LocalManager.tryAcquireLease</c> does (pkg/subnet/etcd/local_manager.go):
/// <list type="number">
/// <item>a lease already published by our PublicIP is reused if it fits the config (a static one stays static),
/// and deleted if it does not;</item>
/// <item>else the subnet from the previous subnet.env (FLANNEL_SUBNET), if it fits and is free;</item>
/// <item>else a random pick among the first 100 free subnets from SubnetMin to SubnetMax.</item>
/// </list>
/// Creation is create-if-absent; losing a race retries from the top, up to 10 times (<c>raceRetries</c>).
/// </summary>
internal sealed class LeaseAcquirer
{
    private const int RaceRetries = 10;
    private const int Candidates = 100;
    private readonly ISubnetRegistry _registry;
    private readonly ILogger _logger;
    private readonly Random _random;

    /// <summary>Creates an acquirer over <paramref name="registry"/>; <paramref name="random"/> picks among free subnets.</summary>
    public LeaseAcquirer(ISubnetRegistry registry, ILogger logger, Random? random = null)
    {
        _registry = registry;
        _logger = logger;
        _random = random ?? Random.Shared;
    }

    /// <summary>Acquires a lease for <paramref name="attributes"/>; throws <see cref="ControlException"/> when impossible.</summary>
    public async Task<Lease> AcquireAsync(NetworkConfig config, LeaseAttributes attributes, Ipv4Prefix? previousSubnet, TimeSpan ttl, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < RaceRetries; attempt++)
        {
            var lease = await TryAcquireAsync(config, attributes, previousSubnet, ttl, cancellationToken).ConfigureAwait(false);
            if (lease is not null)
                return lease;
        }
        throw new ControlException($"Max retries reached trying to acquire a subnet in {_registry.Description}");
    }

    private async Task<Lease?> TryAcquireAsync(NetworkConfig config, LeaseAttributes attributes, Ipv4Prefix? previousSubnet, TimeSpan ttl, CancellationToken ct)
    {
        var snapshot = await _registry.ListAsync(ct).ConfigureAwait(false);
        var publicIp = attributes.PublicIP;
        var ownCorrupt = snapshot.Corrupt.FirstOrDefault(c => c.Owner == publicIp);
        if (ownCorrupt is not null)
        {
            throw new ControlException(
                $"our own lease {ownCorrupt.Key} in {_registry.Description} is corrupt ({ownCorrupt.Problem}): delete or fix it");
        }

        if (snapshot.FindByPublicIp(publicIp) is { } own)
        {
            if (config.IsCompatible(own.Subnet))
            {
                _logger.LogInformation("Found lease {Subnet} for current IP {PublicIP}, reusing{Static}",
                    own.Subnet, publicIp, own.IsStatic ? " (static reservation)" : "");
                var expiration = await _registry.PutAsync(own.Subnet, attributes, own.IsStatic ? null : ttl, ct).ConfigureAwait(false);
                return new Lease(own.Subnet, attributes, expiration);
            }
            _logger.LogInformation("Found lease {Subnet} for current IP {PublicIP} but not compatible with current config, deleting",
                own.Subnet, publicIp);
            await _registry.DeleteAsync(own.Subnet, ct).ConfigureAwait(false);
            snapshot = await _registry.ListAsync(ct).ConfigureAwait(false);
        }

        Ipv4Prefix? chosen = null;
        if (previousSubnet is Ipv4Prefix previous)
        {
            if (!config.IsCompatible(previous))
                _logger.LogWarning("Found previously leased subnet {Subnet} that is not compatible with the network config, ignoring", previous);
            else if (snapshot.Occupied.Any(o => o.Overlaps(previous)))
                _logger.LogInformation("Previously leased subnet {Subnet} is taken by another node", previous);
            else
            {
                _logger.LogInformation("Found previously leased subnet {Subnet}, reusing", previous);
                chosen = previous;
            }
        }
        chosen ??= Allocate(config, snapshot);

        var created = await _registry.TryCreateAsync(chosen.Value, attributes, ttl, ct).ConfigureAwait(false);
        if (created is null)
        {
            _logger.LogDebug("Subnet {Subnet} was taken concurrently, trying again", chosen.Value);
            return null;
        }
        _logger.LogInformation("Allocated lease {Subnet} to current node ({PublicIP})", chosen.Value, publicIp);
        return new Lease(chosen.Value, attributes, created);
    }

    /// <summary>flannel's <c>allocateSubnet</c>: the first 100 free subnets, then a random one of them.</summary>
    internal Ipv4Prefix Allocate(NetworkConfig config, LeaseSnapshot snapshot)
    {
        var occupied = snapshot.Occupied.ToList();
        var free = new List<Ipv4Prefix>(Candidates);
        for (ulong ip = config.SubnetMin.Value; ip <= config.SubnetMax.Value && free.Count < Candidates; ip += config.SubnetSize)
        {
            var candidate = new Ipv4Prefix(new Ipv4Address((uint)ip), config.SubnetLen);
            if (!occupied.Exists(o => o.Overlaps(candidate)))
                free.Add(candidate);
        }
        if (free.Count == 0)
        {
            throw new ControlException(
                $"out of subnets: every /{config.SubnetLen} between {config.SubnetMin} and {config.SubnetMax} of {config.Network} is leased in {_registry.Description}");
        }
        return free[_random.Next(free.Count)];
    }
}
