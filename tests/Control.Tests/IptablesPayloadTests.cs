using Control.Masquerade;
using Dataplane.Packets;

namespace Control.Tests;

/// <summary>The iptables-restore transaction that (re)builds flanneld's chains (pure; the real tables are in EndToEnd/IptablesTests).</summary>
public class IptablesPayloadTests
{
    [Test]
    public void Our_chains_are_declared_the_existing_jump_is_deleted_then_everything_appended_in_order()
    {
        var network = Ipv4Prefix.Parse("10.244.0.0/16");
        var rules = FlannelIptables.ForwardRules(network).Concat(FlannelIptables.MasqueradeRules(network, Ipv4Prefix.Parse("10.244.3.0/24"), randomFully: false)).ToList();
        // The FORWARD jump exists already (a restart); the POSTROUTING one does not.
        var payload = FlannelIptables.RestorePayload(rules, r => r.Chain == "FORWARD");
        Assert.That(payload, Is.EqualTo(
            """
            *filter
            :FLANNEL-FWD - [0:0]
            -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
            -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
            -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
            -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
            COMMIT
            *nat
            :FLANNEL-POSTRTG - [0:0]
            -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
            -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
            -A FLANNEL-POSTRTG -s 10.244.3.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
            -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "flanneld masq" -j RETURN
            -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "flanneld masq" -j RETURN
            -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE
            -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE
            COMMIT

            """.Replace("\r\n", "\n", StringComparison.Ordinal)));
    }
}
