using System.Text;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Masquerade;

/// <summary>One iptables rule: <c>-A Chain Spec…</c> in <c>Table</c>.</summary>
internal sealed record IptablesRule(string Table, string Chain, string[] Spec)
{
    /// <summary>The rule as <c>iptables-save</c>/<c>-restore</c> spell it, after the action.</summary>
    public string Line => string.Join(' ', new[] { Chain }.Concat(Spec.Select(Quote)));

    private static string Quote(string word) => word.Contains(' ', StringComparison.Ordinal) ? $"\"{word}\"" : word;

    /// <summary>Value equality over the words of the spec, not the array reference.</summary>
    public bool Equals(IptablesRule? other) => other is not null && Table == other.Table && Chain == other.Chain && Spec.SequenceEqual(other.Spec);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Table, Chain, Line);
}

/// <summary>
/// The iptables rules flanneld installs (pkg/trafficmngr/iptables/iptables.go, reference/flannel.md §4), managed the
/// way flanneld manages them: through the iptables tools (there is no stable netlink API for xtables rules).
/// </summary>
/// <remarks>
/// <para>With --ip-masq, chain <c>nat/FLANNEL-POSTRTG</c> jumped to from POSTROUTING: RETURN for kube-proxy-marked
/// traffic (0x4000/0x4000, avoids double NAT), RETURN for pod subnet ↔ cluster, RETURN for non-cluster → our pod
/// subnet, MASQUERADE --random-fully for cluster → non-multicast outside, and for host → cluster. The CNI plugin turns
/// its own masquerade off when FLANNEL_IPMASQ=true, so without these pod egress would silently break.</para>
/// <para>By default (flanneld's --iptables-forward-rules=true), chain <c>filter/FLANNEL-FWD</c> jumped to from FORWARD:
/// ACCEPT from and to the Network, so a FORWARD policy of DROP (Docker sets one) does not cut pods off.</para>
/// <para><b>Lifecycle, as flanneld.</b> At start each chain is flushed and rebuilt in one <c>iptables-restore
/// --noflush</c> transaction: declaring a user chain in a --noflush restore creates it or empties it, then our rules
/// are appended in order, and the jump from the built-in chain is deleted (if present) and re-appended, so a restart
/// never duplicates it. That flush also drops the rules of a previous network or subnet (flanneld deletes them
/// explicitly when they differ from subnet.env; every such rule lives in our chains, and the jump is the same for any
/// network, so the flush covers it). Every <c>--iptables-resync</c> seconds (default 5) each rule is checked
/// (<c>iptables -C</c>) and, if any is missing (someone flushed a chain or deleted the jump), the whole set is rebuilt
/// the same way, so the order is right again. On exit, clean or not, the chains and rules stay: flanneld leaves them,
/// and removing FLANNEL-FWD during a crash-restart would drop bridged pod traffic where the FORWARD policy is DROP. A
/// clean stop, a fatal error and SIGKILL therefore leave the node in the same state, and the next start rebuilds it.</para>
/// <para>Every call is bounded (<see cref="IptablesRunner"/>): a held xtables lock or a hung binary is a clear error,
/// never a hung daemon. At start that error fails the start; during resync it is logged and retried next period.</para>
/// </remarks>
internal sealed class FlannelIptables : IDisposable
{
    public const string PostroutingChain = "FLANNEL-POSTRTG";
    public const string ForwardChain = "FLANNEL-FWD";
    private const string KubeProxyMark = "0x4000/0x4000";

    private readonly ILogger _logger;
    private readonly IptablesRunner _run;
    private readonly List<IptablesRule> _rules = [];
    private readonly Lock _gate = new();
    private CancellationTokenSource? _resync;
    private Task? _resyncLoop;

    public FlannelIptables(ILogger logger, string iptables = "iptables")
        : this(logger, IptablesTools.Default with { Iptables = iptables })
    {
    }

    public FlannelIptables(ILogger logger, IptablesTools tools)
    {
        _logger = logger;
        _run = new IptablesRunner(tools);
    }

    /// <summary>How many times a resync found rules missing and rebuilt them.</summary>
    public int Rebuilds { get; private set; }

    /// <summary>flanneld's masquerade rules for <paramref name="network"/> and our <paramref name="podSubnet"/>, in order, the POSTROUTING jump first.</summary>
    public static IReadOnlyList<IptablesRule> MasqueradeRules(Ipv4Prefix network, Ipv4Prefix podSubnet, bool randomFully = true)
    {
        string cluster = network.ToString(), pod = podSubnet.ToString();
        string[] comment = ["-m", "comment", "--comment", "flanneld masq"];
        string[] masquerade = randomFully ? ["-j", "MASQUERADE", "--random-fully"] : ["-j", "MASQUERADE"];
        return
        [
            new("nat", "POSTROUTING", [.. comment, "-j", PostroutingChain]),
            new("nat", PostroutingChain, ["-m", "mark", "--mark", KubeProxyMark, .. comment, "-j", "RETURN"]),
            new("nat", PostroutingChain, ["-s", pod, "-d", cluster, .. comment, "-j", "RETURN"]),
            new("nat", PostroutingChain, ["-s", cluster, "-d", pod, .. comment, "-j", "RETURN"]),
            new("nat", PostroutingChain, ["!", "-s", cluster, "-d", pod, .. comment, "-j", "RETURN"]),
            new("nat", PostroutingChain, ["-s", cluster, "!", "-d", "224.0.0.0/4", .. comment, .. masquerade]),
            new("nat", PostroutingChain, ["!", "-s", cluster, "-d", cluster, .. comment, .. masquerade]),
        ];
    }

    /// <summary>flanneld's forward rules for <paramref name="network"/>, the FORWARD jump first.</summary>
    public static IReadOnlyList<IptablesRule> ForwardRules(Ipv4Prefix network)
    {
        string[] comment = ["-m", "comment", "--comment", "flanneld forward"];
        return
        [
            new("filter", "FORWARD", [.. comment, "-j", ForwardChain]),
            new("filter", ForwardChain, ["-s", network.ToString(), .. comment, "-j", "ACCEPT"]),
            new("filter", ForwardChain, ["-d", network.ToString(), .. comment, "-j", "ACCEPT"]),
        ];
    }

    /// <summary>
    /// The <c>iptables-restore --noflush</c> input that (re)builds <paramref name="rules"/>: per table, our chains
    /// declared (created, or emptied if they exist), each rule in a built-in chain that <paramref name="existing"/>
    /// says is present deleted first, then every rule appended in order. One COMMIT per table: atomic per table.
    /// </summary>
    public static string RestorePayload(IReadOnlyList<IptablesRule> rules, Func<IptablesRule, bool> existing)
    {
        var sb = new StringBuilder();
        foreach (var table in rules.Select(r => r.Table).Distinct())
        {
            var inTable = rules.Where(r => r.Table == table).ToList();
            sb.Append('*').Append(table).Append('\n');
            foreach (var chain in inTable.Select(r => r.Chain).Where(IsOurs).Distinct())
                sb.Append(':').Append(chain).Append(" - [0:0]\n");
            foreach (var rule in inTable.Where(r => !IsOurs(r.Chain) && existing(r)))
                sb.Append("-D ").Append(rule.Line).Append('\n');
            foreach (var rule in inTable)
                sb.Append("-A ").Append(rule.Line).Append('\n');
            sb.Append("COMMIT\n");
        }
        return sb.ToString();
    }

    private static bool IsOurs(string chain) => chain is PostroutingChain or ForwardChain;

    /// <summary>
    /// Builds the forward and/or masquerade rules now (throws <see cref="ControlException"/> on failure), then keeps
    /// them in place every <paramref name="resync"/> until <see cref="Dispose"/>.
    /// </summary>
    public void Start(Ipv4Prefix network, Ipv4Prefix podSubnet, bool forward, bool masquerade, bool randomFully, TimeSpan resync, Ipv4Prefix? previousNetwork = null, Ipv4Prefix? previousSubnet = null)
    {
        lock (_gate)
        {
            if (forward)
                _rules.AddRange(ForwardRules(network));
            if (masquerade)
            {
                if (previousSubnet is { } ps && (previousNetwork != network || ps != podSubnet))
                {
                    _logger.LogInformation("Network or subnet ({Network}, {Subnet}) differ from subnet.env's ({PrevNetwork}, {PrevSubnet}): " +
                        "the rebuild of {Chain} drops the old rules", network, podSubnet, previousNetwork, ps, PostroutingChain);
                }
                _rules.AddRange(MasqueradeRules(network, podSubnet, randomFully));
            }
            if (_rules.Count == 0)
                return;
            Rebuild();
            _logger.LogInformation("iptables: built {Chains} with {Count} rules via {Restore} (resync every {Resync} s; the rules stay in place on exit, as flanneld's)",
                string.Join(" and ", _rules.Where(r => IsOurs(r.Chain)).Select(r => $"{r.Table}/{r.Chain}").Distinct()),
                _rules.Count, _run.Tools.Restore, resync.TotalSeconds);
        }
        _resync = new CancellationTokenSource();
        var token = _resync.Token;
        _resyncLoop = Task.Run(() => ResyncLoopAsync(resync, token), CancellationToken.None);
    }

    /// <summary>True when every rule is present now (one bounded <c>iptables -C</c> per rule, as flanneld's check).</summary>
    public bool AllPresent()
    {
        lock (_gate)
            return _rules.All(Exists);
    }

    /// <summary>Stops the resync. The rules stay (see the remarks).</summary>
    public void Dispose()
    {
        var cts = Interlocked.Exchange(ref _resync, null);
        if (cts is null)
            return;
        cts.Cancel();
        try
        {
            _resyncLoop?.Wait(_run.Tools.Timeout * 2);
        }
        catch (AggregateException)
        {
        }
        cts.Dispose();
    }

    /// <summary>Removes our rules and chains (not part of the daemon's lifecycle: an operator's or a test's clean-up).</summary>
    public void Remove()
    {
        Dispose();
        lock (_gate)
        {
            foreach (var rule in _rules.Where(r => !IsOurs(r.Chain) && Exists(r)))
                _run.Iptables(["-t", rule.Table, "-D", rule.Chain, .. rule.Spec]);
            foreach (var (table, chain) in _rules.Where(r => IsOurs(r.Chain)).Select(r => (r.Table, r.Chain)).Distinct())
            {
                _run.Iptables("-t", table, "-F", chain);
                _run.Iptables("-t", table, "-X", chain);
            }
            _rules.Clear();
        }
    }

    private void Rebuild()
    {
        _run.Restore(RestorePayload(_rules, Exists));
    }

    /// <summary>
    /// <c>iptables -C</c>: exit 0 present; 1 absent; 2 absent because the rule cannot exist (a jump to our chain before
    /// the chain exists: "Couldn't load target"; a genuinely bad rule then fails loudly in the restore). Anything else
    /// (4: the xtables lock was not obtained in time) is an error, never read as "absent", or a rebuild could
    /// duplicate a jump.
    /// </summary>
    private bool Exists(IptablesRule rule)
    {
        var result = _run.Iptables(["-t", rule.Table, "-C", rule.Chain, .. rule.Spec]);
        return result.ExitCode switch
        {
            0 => true,
            1 or 2 => false,
            _ => throw _run.Failure($"check rule {rule.Table}/{rule.Line}", result),
        };
    }

    private async Task ResyncLoopAsync(TimeSpan period, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                lock (_gate)
                {
                    if (ct.IsCancellationRequested || _rules.All(Exists))
                        continue;
                    Rebuild();
                    Rebuilds++;
                }
                _logger.LogWarning("iptables: some of our rules were missing (flushed or deleted by someone); rebuilt them");
            }
            catch (ControlException e)
            {
                _logger.LogError("iptables resync failed (trying again in {Period} s): {Error}", period.TotalSeconds, e.Message);
            }
        }
    }
}
