using System.Net;
using System.Net.Sockets;

namespace Detach.Gateway.Tests.Cli;

/// <summary>A test server on 127.0.0.1 and a port of the system's choosing: each connection served on its own task until disposed.</summary>
public abstract class LoopbackServer : IAsyncDisposable
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource stop = new();
    private readonly Task accepting;

    protected LoopbackServer()
    {
        listener.Start();
        accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    protected CancellationToken Stopping => stop.Token;

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        try
        {
            await accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Serves one connection and disposes it; errors of a connection the test broke on purpose are its own business.</summary>
    protected abstract Task ServeAsync(TcpClient client);

    private async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            var client = await listener.AcceptTcpClientAsync(stop.Token);
            _ = Task.Run(() => ServeAsync(client), stop.Token);
        }
    }
}
