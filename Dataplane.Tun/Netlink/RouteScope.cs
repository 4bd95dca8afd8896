namespace Dataplane.Tun.Netlink;

/// <summary>rtm_scope values (RT_SCOPE_*).</summary>
public enum RouteScope : byte
{
    /// <summary>RT_SCOPE_UNIVERSE: a route anywhere (flannel's Network route on flannel0 uses it).</summary>
    Universe = 0,
    /// <summary>RT_SCOPE_LINK: directly attached (what <c>ip route add … dev X</c> defaults to).</summary>
    Link = 253,
    /// <summary>RT_SCOPE_HOST: this host.</summary>
    Host = 254,
    /// <summary>RT_SCOPE_NOWHERE: no destination (matches any scope on delete).</summary>
    Nowhere = 255,
}
