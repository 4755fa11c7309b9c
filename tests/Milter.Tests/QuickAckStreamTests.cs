using System.Net;
using System.Net.Sockets;

namespace Detach.Milter.Tests;

/// <summary>
/// The filter's reads leave the connection acknowledging at once. Linux reports it through getsockopt(TCP_QUICKACK):
/// 0 while the socket is in its interactive ("pingpong") mode, where ACKs wait for the delayed-ACK timer or for a
/// reply to ride on; request/reply exchanges put a socket in that mode, as milter traffic does.
/// </summary>
public sealed class QuickAckStreamTests
{
    private const int TcpQuickAck = 12;

    [Fact]
    public async Task A_read_through_the_quick_ack_stream_leaves_the_socket_acknowledging_at_once()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "TCP_QUICKACK is Linux's");

        // The control first: without the stream the exchanges leave the socket in delayed-ACK mode (so the assertion
        // below can fail). The kernel enters that mode only when a reply follows a read quickly, which a loaded
        // machine may delay: a few attempts.
        var attempts = 0;
        while (await QuickAckAfterUnansweredFrameAsync(s => new NetworkStream(s, ownsSocket: true)) != 0)
        {
            Assert.True(++attempts < 5, "the plain socket never entered delayed-ACK mode");
        }

        Assert.Equal(1, await QuickAckAfterUnansweredFrameAsync(s => new QuickAckStream(s)));
    }

    /// <summary>A few request/reply round trips, then one frame nobody answers (as an SMFIP_NR_* event): the value of
    /// TCP_QUICKACK on the reading side after it read that frame.</summary>
    private static async Task<int> QuickAckAfterUnansweredFrameAsync(Func<Socket, NetworkStream> wrap)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!, TestContext.Current.CancellationToken);
        var accepted = await listener.AcceptAsync(TestContext.Current.CancellationToken);
        await using var server = wrap(accepted);
        var buffer = new byte[64];
        for (var i = 0; i < 4; i++)
        {
            await client.SendAsync(new byte[] { 1, 2, 3 }, TestContext.Current.CancellationToken);
            await server.ReadExactlyAsync(buffer.AsMemory(0, 3), TestContext.Current.CancellationToken);
            await server.WriteAsync(new byte[] { 4 }, TestContext.Current.CancellationToken);
            await client.ReceiveAsync(buffer, TestContext.Current.CancellationToken);
        }

        await client.SendAsync(new byte[] { 5, 6, 7 }, TestContext.Current.CancellationToken);
        await server.ReadExactlyAsync(buffer.AsMemory(0, 3), TestContext.Current.CancellationToken);
        var value = new byte[4];
        server.Socket.GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpQuickAck, value);
        return BitConverter.ToInt32(value);
    }
}
