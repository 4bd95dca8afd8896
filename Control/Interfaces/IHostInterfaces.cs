namespace Control.Interfaces;

/// <summary>The OS-reading half of interface selection, behind a seam so tests can feed fake interfaces.</summary>
internal interface IHostInterfaces
{
    /// <summary>All interfaces of the current network namespace.</summary>
    IReadOnlyList<HostInterface> List();

    /// <summary>Name of the interface carrying the IPv4 default route, or null when there is none.</summary>
    string? DefaultRouteInterface();
}
