using System.Diagnostics;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Masquerade;

/// <summary>
/// The iptables rules flanneld installs (pkg/trafficmngr/iptables/iptables.go, reference/flannel.md §4), installed and
/// removed the way flanneld does it: through the <c>iptables</c> binary (flannel's go-iptables library shells out too;
/// there is no stable netlink API for xtables rules).
/// </summary>
/// <remarks>
/// <para>With --ip-masq, chain <c>nat/FLANNEL-POSTRTG</c> jumped to from POSTROUTING: RETURN for kube-proxy-marked
/// traffic (0x4000/0x4000, avoids double NAT), RETURN for pod subnet ↔ cluster, RETURN for non-cluster → our pod
/// subnet, MASQUERADE --random-fully for cluster → non-multicast outside, and for host → cluster. The CNI plugin turns
/// its own masquerade off when FLANNEL_IPMASQ=true, so without these pod egress would silently break.</para>
/// <para>By default (flanneld's --iptables-forward-rules=true), chain <c>filter/FLANNEL-FWD</c> jumped to from FORWARD:
/// ACCEPT from and to the Network, so a FORWARD policy of DROP (Docker sets one) does not cut pods off.</para>
/// <para>Idempotent: each rule is checked (<c>-C</c>) before it is appended, so a restart does not duplicate rules.</para>
/// </remarks>
internal sealed class FlannelIptables
{
    public const string PostroutingChain = "FLANNEL-POSTRTG";
    public const string ForwardChain = "FLANNEL-FWD";
    private const string KubeProxyMark = "0x4000/0x4000";

    private readonly ILogger _logger;
    private readonly string _iptables;
    private readonly List<(string Table, string Chain, string[] Rule)> _installed = new();
    private readonly List<(string Table, string Chain)> _chains = new();

    public FlannelIptables(ILogger logger, string iptables = "iptables")
    {
        _logger = logger;
        _iptables = iptables;
    }

    /// <summary>flanneld's masquerade rules for <paramref name="network"/> and our <paramref name="podSubnet"/>, in order.</summary>
    public static IReadOnlyList<string[]> MasqueradeRules(Ipv4Prefix network, Ipv4Prefix podSubnet)
    {
        string cluster = network.ToString(), pod = podSubnet.ToString();
        string[] comment = ["-m", "comment", "--comment", "flanneld masq"];
        return
        [
            ["-m", "mark", "--mark", KubeProxyMark, .. comment, "-j", "RETURN"],
            ["-s", pod, "-d", cluster, .. comment, "-j", "RETURN"],
            ["-s", cluster, "-d", pod, .. comment, "-j", "RETURN"],
            ["!", "-s", cluster, "-d", pod, .. comment, "-j", "RETURN"],
            ["-s", cluster, "!", "-d", "224.0.0.0/4", .. comment, "-j", "MASQUERADE", "--random-fully"],
            ["!", "-s", cluster, "-d", cluster, .. comment, "-j", "MASQUERADE", "--random-fully"],
        ];
    }

    /// <summary>flanneld's forward rules for <paramref name="network"/>.</summary>
    public static IReadOnlyList<string[]> ForwardRules(Ipv4Prefix network)
    {
        string[] comment = ["-m", "comment", "--comment", "flanneld forward"];
        return
        [
            ["-s", network.ToString(), .. comment, "-j", "ACCEPT"],
            ["-d", network.ToString(), .. comment, "-j", "ACCEPT"],
        ];
    }

    /// <summary>Installs the masquerade chain and its POSTROUTING jump.</summary>
    public void InstallMasquerade(Ipv4Prefix network, Ipv4Prefix podSubnet)
    {
        EnsureChain("nat", PostroutingChain);
        foreach (var rule in MasqueradeRules(network, podSubnet))
            Ensure("nat", PostroutingChain, rule);
        Ensure("nat", "POSTROUTING", ["-m", "comment", "--comment", "flanneld masq", "-j", PostroutingChain]);
        _logger.LogInformation("Installed masquerade rules (nat {Chain}) for {Network}, pod subnet {Subnet}", PostroutingChain, network, podSubnet);
    }

    /// <summary>Installs the forward-accept chain and its FORWARD jump.</summary>
    public void InstallForward(Ipv4Prefix network)
    {
        EnsureChain("filter", ForwardChain);
        foreach (var rule in ForwardRules(network))
            Ensure("filter", ForwardChain, rule);
        Ensure("filter", "FORWARD", ["-m", "comment", "--comment", "flanneld forward", "-j", ForwardChain]);
        _logger.LogInformation("Installed forward rules (filter {Chain}) for {Network}", ForwardChain, network);
    }

    /// <summary>Removes what <see cref="InstallMasquerade"/> and <see cref="InstallForward"/> added (best effort).</summary>
    public void Remove()
    {
        // Jumps first, then the rules, then the (now empty, unreferenced) chains.
        foreach (var (table, chain, rule) in Enumerable.Reverse(_installed))
            Run(["-w", "-t", table, "-D", chain, .. rule]);
        foreach (var (table, chain) in _chains)
        {
            Run(["-w", "-t", table, "-F", chain]);
            Run(["-w", "-t", table, "-X", chain]);
        }
        if (_installed.Count > 0)
            _logger.LogInformation("Removed the iptables rules and chains we installed");
        _installed.Clear();
        _chains.Clear();
    }

    private void EnsureChain(string table, string chain)
    {
        if (Run(["-w", "-t", table, "-S", chain]).ExitCode != 0)
            Check(Run(["-w", "-t", table, "-N", chain]), $"create chain {table}/{chain}");
        _chains.Add((table, chain));
    }

    private void Ensure(string table, string chain, string[] rule)
    {
        if (Run(["-w", "-t", table, "-C", chain, .. rule]).ExitCode != 0)
            Check(Run(["-w", "-t", table, "-A", chain, .. rule]), $"add rule to {table}/{chain}: {string.Join(' ', rule)}");
        _installed.Add((table, chain, rule));
    }

    private static void Check((int ExitCode, string Error) result, string what)
    {
        if (result.ExitCode != 0)
            throw new ControlException($"iptables: cannot {what}: {result.Error.Trim()}");
    }

    private (int ExitCode, string Error) Run(string[] args)
    {
        var psi = new ProcessStartInfo(_iptables) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(30_000))
            {
                p.Kill(true);
                return (-1, "timed out");
            }
            return (p.ExitCode, stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ControlException($"cannot run {_iptables} ({e.Message}): --ip-masq and the forward rules need iptables installed, or pass --iptables-forward-rules=false without --ip-masq");
        }
    }
}
