using Dataplane.Devices;
using Dataplane.Buffers;
using Dataplane.Packets;
using Dataplane.Testing;
using Dataplane.Tun.Netlink;

namespace Dataplane.Tun.Tests;

/// <summary>Namespace setups shared by the privileged tests.</summary>
internal static class TunTestNet
{
    public static readonly Ipv4Address NodeA = Ipv4Address.Parse("198.18.0.1");
    public static readonly Ipv4Address NodeB = Ipv4Address.Parse("198.18.0.2");
    public static readonly Ipv4Address TunAddress = Ipv4Address.Parse("10.244.1.0");
    public static readonly Ipv4Prefix Network = Ipv4Prefix.Parse("10.244.0.0/16");

    /// <summary>Two namespaces joined by a veth: a/eth0 198.18.0.1/24 ↔ b/eth0 198.18.0.2/24.</summary>
    public static (string A, string B) TwoNodes(NetnsScope scope, int mtu = 1500)
    {
        var a = scope.Create("a");
        var b = scope.Create("b");
        scope.Veth(a, "eth0", "198.18.0.1/24", b, "eth0", "198.18.0.2/24", mtu);
        return (a, b);
    }

    /// <summary>
    /// Inside <paramref name="ns"/>: opens a TUN as flannel's udp backend sets it up (10.244.1.0/32, MTU,
    /// up, route 10.244.0.0/16 dev TUN scope universe) and returns it.
    /// </summary>
    public static LinuxTunDevice FlannelTun(string ns, TunOptions? options = null, int mtu = 1472) =>
        NetworkNamespace.Run(ns, () =>
        {
            var tun = LinuxTunDevice.Open(options);
            try
            {
                using var nl = new RtNetlink();
                var link = nl.GetLink(tun.Name);
                nl.AddAddress(link.Index, TunAddress, 32);
                nl.SetMtu(link.Index, mtu);
                nl.SetLinkUp(link.Index);
                nl.AddRoute(new RouteInfo { Destination = Network, LinkIndex = link.Index });
                return tun;
            }
            catch
            {
                tun.Dispose();
                throw;
            }
        });

    /// <summary>Polls a non-blocking read until <paramref name="match"/> accepts a packet or the time is up.</summary>
    public static bool ReadMatching(LinuxTunDevice tun, PacketBuffer buffer, Func<PacketBuffer, bool> match, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            buffer.Reset();
            var r = tun.TryRead(buffer);
            if (r.IsOk)
            {
                if (match(buffer))
                    return true;
                continue;
            }
            if (r.Status != IoStatus.WouldBlock)
                Assert.Fail($"TUN read failed: {r}");
            Thread.Sleep(1);
        }
        return false;
    }

    /// <summary>Polls a non-blocking receive until a datagram arrives or the time is up.</summary>
    public static IoResult ReceiveWithin(UdpUnderlay socket, PacketBuffer buffer, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var r = socket.TryReceive(buffer);
            if (r.Status != IoStatus.WouldBlock || DateTime.UtcNow > deadline)
                return r;
            Thread.Sleep(1);
        }
    }

    public static bool IsIcmpEchoTo(PacketBuffer p, Ipv4Address destination)
    {
        var d = p.Data;
        return d.Length >= 28 && d[0] >> 4 == 4 && d[9] == 1 && Ipv4Address.Read(d[16..]) == destination && d[(d[0] & 0xF) * 4] == 8;
    }
}
