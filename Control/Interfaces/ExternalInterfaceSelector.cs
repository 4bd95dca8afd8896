using System.Text.RegularExpressions;
using Dataplane.Packets;

namespace Control.Interfaces;

/// <summary>
/// Chooses the external interface as flanneld's <c>ipmatch.LookupExtIface</c> does:
/// <list type="number">
/// <item><c>--iface</c> values in order, each an IP (the interface holding it; IfaceAddr is that IP) or a name
/// (IfaceAddr is its first IPv4); the first that resolves wins;</item>
/// <item>else <c>--iface-regex</c> values in order, each matched first against every interface's IPv4
/// addresses, then against interface names;</item>
/// <item>else the interface of the default route.</item>
/// </list>
/// ExtAddr is <c>--public-ip</c> or IfaceAddr. An interface without IPv4 or with MTU 0 is an error.
/// </summary>
internal static class ExternalInterfaceSelector
{
    /// <summary>Selects the interface; throws <see cref="ControlException"/> naming the problem.</summary>
    public static ExternalInterface Select(IHostInterfaces host, IReadOnlyList<string> ifaces, IReadOnlyList<string> regexes, Ipv4Address? publicIp)
    {
        var all = host.List();
        HostInterface chosen;
        Ipv4Address ifaceAddr;
        if (ifaces.Count > 0)
        {
            var problems = new List<string>();
            foreach (var spec in ifaces)
            {
                if (Ipv4Address.TryParse(spec, out var ip))
                {
                    var byIp = all.FirstOrDefault(i => i.Ipv4Addresses.Contains(ip));
                    if (byIp is not null)
                        return Finish(byIp, ip, publicIp);
                    problems.Add($"no interface has address {spec}");
                }
                else
                {
                    var byName = all.FirstOrDefault(i => i.Name == spec);
                    if (byName is not null)
                        return Finish(byName, FirstIpv4(byName), publicIp);
                    problems.Add($"no interface named {spec}");
                }
            }
            throw new ControlException($"failed to find any valid interface to use from --iface {string.Join(", ", ifaces)}: {string.Join("; ", problems)}");
        }
        if (regexes.Count > 0)
        {
            foreach (var pattern in regexes)
            {
                var regex = Compile(pattern);
                foreach (var candidate in all)
                {
                    foreach (var address in candidate.Ipv4Addresses)
                    {
                        if (regex.IsMatch(address.ToString()))
                            return Finish(candidate, address, publicIp);
                    }
                }
                foreach (var candidate in all)
                {
                    if (regex.IsMatch(candidate.Name))
                        return Finish(candidate, FirstIpv4(candidate), publicIp);
                }
            }
            throw new ControlException($"failed to find any interface or address matching --iface-regex {string.Join(", ", regexes)}");
        }
        var name = host.DefaultRouteInterface()
            ?? throw new ControlException("failed to get default interface: no IPv4 default route (use --iface or --iface-regex)");
        chosen = all.FirstOrDefault(i => i.Name == name)
            ?? throw new ControlException($"default route interface {name} is not listed among the interfaces");
        ifaceAddr = FirstIpv4(chosen);
        return Finish(chosen, ifaceAddr, publicIp);
    }

    /// <summary>Compiles a --iface-regex value (Go RE2 syntax is close enough to .NET's for interface names and addresses).</summary>
    public static Regex Compile(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            throw ControlException.Usage($"invalid --iface-regex '{pattern}': {e.Message}");
        }
    }

    private static Ipv4Address FirstIpv4(HostInterface i) =>
        i.Ipv4Addresses.Count > 0 ? i.Ipv4Addresses[0] : throw new ControlException($"failed to find IPv4 address for interface {i.Name}");

    private static ExternalInterface Finish(HostInterface i, Ipv4Address ifaceAddr, Ipv4Address? publicIp)
    {
        if (i.Mtu <= 0)
            throw new ControlException($"failed to determine MTU for {i.Name} interface");
        return new ExternalInterface(i.Name, ifaceAddr, publicIp ?? ifaceAddr, i.Mtu);
    }
}
