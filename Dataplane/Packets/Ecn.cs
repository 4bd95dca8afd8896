namespace Dataplane.Packets;

/// <summary>ECN codepoints (RFC 3168) and the tunnel encapsulation rule the kernel applies.</summary>
public static class Ecn
{
    /// <summary>Mask of the ECN bits in TOS / Traffic Class.</summary>
    public const byte Mask = 0x03;
    /// <summary>Not ECN-capable transport.</summary>
    public const byte NotEct = 0x00;
    /// <summary>ECT(1).</summary>
    public const byte Ect1 = 0x01;
    /// <summary>ECT(0).</summary>
    public const byte Ect0 = 0x02;
    /// <summary>Congestion Experienced.</summary>
    public const byte Ce = 0x03;

    /// <summary>
    /// The outer TOS for an inner TOS/Traffic Class, as the kernel's <c>ip_tunnel_ecn_encap</c> computes it for a
    /// device with TOS 0 (flannel sets none): <c>INET_ECN_encapsulate(0, inner)</c> copies ECT(0)/ECT(1) from the
    /// inner packet and maps CE to ECT(0) (include/net/inet_ecn.h, RFC 6040 normal mode). DSCP stays 0.
    /// </summary>
    public static byte EncapsulateTos(byte innerTos)
    {
        byte ecn = (byte)(innerTos & Mask);
        return ecn == Ce ? Ect0 : ecn;
    }
}
