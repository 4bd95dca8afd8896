using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// A destination inside Network that no lease covers: the data path answers with ICMP net-unreachable whose source is
/// the unreachable destination, so the node's stack accepts it (flannel's, sourced from flannel0's own address, is
/// dropped as a martian and the sender just times out).
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class NetUnreachableTests
{
    private const int SolIp = 0;
    private const int IpRecvErr = 11;
    private static readonly IPAddress Nowhere = IPAddress.Parse("10.244.99.9");

    [Test]
    public void Connected_udp_socket_gets_network_unreachable_and_ping_prints_destination_net_unreachable()
    {
        Dataplane.Testing.Prerequisites.RequireTool("ping");
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();

        var socket = world.UdpSocket(world.Node);
        // Linux treats ICMP net-unreachable as a soft error (icmp_err_convert: not fatal): a UDP socket only sees it
        // with IP_RECVERR, as ping, traceroute and resolvers set it.
        socket.SetRawSocketOption(SolIp, IpRecvErr, BitConverter.GetBytes(1));
        socket.Connect(new IPEndPoint(Nowhere, 9999));
        var sw = Stopwatch.StartNew();
        SocketError? error = null;
        // The ICMP comes back asynchronously: the pending error surfaces on the next receive (or send).
        for (int attempt = 0; attempt < 3 && error is null; attempt++)
        {
            try
            {
                socket.Send("anyone?"u8);
                if (socket.Poll(TimeSpan.FromSeconds(1), SelectMode.SelectRead))
                    socket.Receive(new byte[64]);
            }
            catch (SocketException e)
            {
                error = e.SocketErrorCode;
            }
        }
        TestContext.Out.WriteLine($"connected UDP socket: {error?.ToString() ?? "no error"} after {sw.ElapsedMilliseconds} ms");
        Assert.That(error, Is.EqualTo(SocketError.NetworkUnreachable), daemon.Log);

        var ping = NetnsScope.TryExec(world.Node, $"ping -c1 -W2 {Nowhere}", TimeSpan.FromSeconds(10));
        TestContext.Out.WriteLine(ping.StdOut.Trim());
        Assert.That(ping.StdOut, Does.Contain($"From {Nowhere}").And.Contain("Destination Net Unreachable"));

        daemon.Signal("TERM");
        Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(15)), Is.True, daemon.Log);
        var summary = ShutdownSummary.From(daemon.Log);
        Assert.That(summary.IcmpErrors, Is.GreaterThanOrEqualTo(2), daemon.Log);
        Assert.That(summary.Dropped("NoRoute"), Is.GreaterThanOrEqualTo(2), daemon.Log);
    }
}
