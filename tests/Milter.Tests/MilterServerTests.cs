using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Detach.Milter.Tests;

public sealed class MilterServerTests
{
    [Fact]
    public async Task A_broken_MTA_connection_ends_only_itself()
    {
        var backend = new RecordingBackend();
        await using var host = await ServerHost.StartAsync(backend, new IPEndPoint(IPAddress.Loopback, 0));
        await using var good = await host.ConnectAsync();
        await using var broken = await host.ConnectAsync();

        await good.Mta.SendAsync(TestMta.Negotiation(), TestMta.Mail("a@example.test"));
        Assert.Equal('O', (await good.Mta.ReadAsync())!.Code);
        await broken.Mta.SendAsync(TestMta.Negotiation(), TestMta.Word(0xFFFFFFFF));
        Assert.Equal('O', (await broken.Mta.ReadAsync())!.Code);
        Assert.Null(await broken.Mta.ReadAsync()); // closed by the milter

        await good.Mta.SendAsync(TestMta.Header("Subject", " still here"), TestMta.Command('N'));
        Assert.Equal('c', (await good.Mta.ReadAsync())!.Code);
        await good.Mta.SendAsync(TestMta.Command('E'));
        Assert.Equal('a', (await good.Mta.ReadAsync())!.Code);
    }

    [Fact]
    public async Task Connections_over_the_limit_are_closed_at_once()
    {
        await using var host = await ServerHost.StartAsync(new RecordingBackend(), new IPEndPoint(IPAddress.Loopback, 0), o => o.MaxConnections = 1);
        await using var first = await host.ConnectAsync();
        await first.Mta.SendAsync(TestMta.Negotiation());
        Assert.Equal('O', (await first.Mta.ReadAsync())!.Code);

        await using var second = await host.ConnectAsync();
        await second.Mta.SendAsync(TestMta.Negotiation());
        Assert.True(await ClosedWithoutReplyAsync(second.Mta));
    }

    // The server closes a connection over the limit without reading it: when the negotiation it never read is still in
    // its receive buffer, the kernel ends the connection with a reset instead of a FIN. Both are "closed at once".
    private static async Task<bool> ClosedWithoutReplyAsync(TestMta mta)
    {
        try
        {
            return await mta.ReadAsync() is null;
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return true;
        }
    }

    [Fact]
    public async Task A_unix_socket_serves_and_a_stale_socket_file_is_replaced()
    {
        var path = Path.Combine(Path.GetTempPath(), $"milter-{Guid.NewGuid():N}.sock");
        await File.WriteAllTextAsync(path, "", TestContext.Current.CancellationToken); // left by a process that died
        try
        {
            await using var host = await ServerHost.StartAsync(new RecordingBackend(), new UnixDomainSocketEndPoint(path));
            Assert.Equal("unix:" + path, MilterEndPoint.ToPostfix(host.Server.LocalEndPoints[0]));
            await using var client = await host.ConnectAsync();
            await client.Mta.SendAsync(TestMta.Negotiation());
            Assert.Equal('O', (await client.Mta.ReadAsync())!.Code);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class ServerHost : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;

        private ServerHost(MilterServer server)
        {
            Server = server;
            server.Start();
            _run = server.RunAsync(_stop.Token);
        }

        public MilterServer Server { get; }

        public static Task<ServerHost> StartAsync(IMilterBackend backend, EndPoint endPoint, Action<MilterServerOptions>? configure = null)
        {
            var options = new MilterServerOptions { ShutdownGracePeriod = TimeSpan.FromSeconds(2) };
            options.EndPoints.Add(endPoint);
            configure?.Invoke(options);
            return Task.FromResult(new ServerHost(new MilterServer(options, backend)));
        }

        public async Task<Client> ConnectAsync()
        {
            var endPoint = Server.LocalEndPoints[0];
            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, endPoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
            await socket.ConnectAsync(endPoint, TestContext.Current.CancellationToken);
            return new Client(new NetworkStream(socket, ownsSocket: true));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _run;
            await Server.DisposeAsync();
            _stop.Dispose();
        }
    }

    private sealed class Client(NetworkStream stream) : IAsyncDisposable
    {
        public TestMta Mta { get; } = new(PipeWriter.Create(stream), PipeReader.Create(stream));

        public ValueTask DisposeAsync() => stream.DisposeAsync();
    }
}
