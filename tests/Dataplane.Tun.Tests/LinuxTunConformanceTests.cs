using System.Net;
using System.Net.Sockets;
using Dataplane.Devices;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

/// <summary>
/// <see cref="LinuxTunDevice"/> in a network namespace, plain and with IFF_VNET_HDR + TUNSETOFFLOAD, against the
/// same assertions as the in-memory fake (FakeTunConformanceTests). The node's stack is two UDP sockets in that
/// namespace: one sends towards the TUN's route, one is bound to the TUN's address.
/// </summary>
[Category("Privileged")]
public class LinuxTunConformanceTests : TunConformanceWithKernelOffloads
{
    private const int SOL_UDP = 17, UDP_SEGMENT = 103; // linux/udp.h

    private sealed class LinuxRig(NetnsScope scope, string ns, LinuxTunDevice tun, Socket sender, Socket receiver) : Rig
    {
        private readonly byte[] _receive = new byte[65536];
        private Socket? _tcp;

        public override Task StackSendsTcp(ushort port, byte[] data)
        {
            var tcp = _tcp = NetworkNamespace.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
            return Task.Run(async () =>
            {
                await tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse(Remote.ToString()), port));
                await tcp.SendAsync(new ReadOnlyMemory<byte>(data));
            });
        }

        public override ITunDevice Tun => tun;

        public override void StackSends(byte[] payload, int segmentSize = 0)
        {
            // UDP_SEGMENT as a socket option: every later send is a GSO send (udp_send_skb), which needs the route's
            // device to offload checksums, as the offload TUN does (TUN_F_CSUM).
            sender.SetRawSocketOption(SOL_UDP, UDP_SEGMENT, BitConverter.GetBytes(segmentSize));
            sender.SendTo(payload, new IPEndPoint(IPAddress.Parse(Remote.ToString()), RemotePort));
        }

        public override byte[]? StackReceives(TimeSpan within)
        {
            receiver.ReceiveTimeout = Math.Max(1, (int)within.TotalMilliseconds);
            try
            {
                int n = receiver.Receive(_receive);
                return _receive.AsSpan(0, n).ToArray();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                return null;
            }
        }

        public override void Dispose()
        {
            _tcp?.Dispose();
            sender.Dispose();
            receiver.Dispose();
            tun.Dispose();
            scope.Dispose();
        }
    }

    protected override Rig Create(int batchSize, bool offloads)
    {
        Prerequisites.RequireNetns();
        var scope = new NetnsScope();
        LinuxTunDevice? opened = null;
        try
        {
            var ns = scope.Create("t");
            // No IPv6 chatter (router solicitations, MLD) read from the TUN: the reads hold only what the test sent.
            NetnsScope.Exec(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
            var options = new TunOptions
            {
                BatchSize = batchSize,
                Offloads = offloads ? TunOffloads.Tso4 | TunOffloads.Tso6 | TunOffloads.Uso4 | TunOffloads.Uso6 : TunOffloads.None,
            };
            var tun = opened = TunTestNet.FlannelTun(ns, options);
            Assert.That(tun.Offloads, offloads ? Is.Not.EqualTo(TunOffloads.None) : Is.EqualTo(TunOffloads.None));
            var (sender, receiver) = NetworkNamespace.Run(ns, () =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                var r = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                r.Bind(new IPEndPoint(IPAddress.Parse(Local.ToString()), LocalPort));
                return (s, r);
            });
            return new LinuxRig(scope, ns, tun, sender, receiver);
        }
        catch
        {
            opened?.Dispose();
            scope.Dispose();
            throw;
        }
    }
}
